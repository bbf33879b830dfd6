package migrate_test

import (
	"context"
	"fmt"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/migrate"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func ExampleApply() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	conn, _ := pgx.Connect(ctx, dbs.DSNs[0])
	defer conn.Close(ctx)
	ms, _ := migrate.Load(fstest.MapFS{
		"migrations/001_jobs.sql":  {Data: []byte(`CREATE TABLE jobs (id int PRIMARY KEY);`)},
		"migrations/002_state.sql": {Data: []byte(`ALTER TABLE jobs ADD COLUMN state jsonb;`)},
	}, "migrations")
	applied, err := migrate.Apply(ctx, conn, "example_schema", ms)
	fmt.Println(applied, err)
	applied, err = migrate.Apply(ctx, conn, "example_schema", ms)
	fmt.Println(applied, err)
	// Output:
	// [1 2] <nil>
	// [] <nil>
}
