package catalog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// FindKey prefers the primary key, else a unique index on NOT NULL columns.
func ExampleFindKey() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	conn, _ := pgx.Connect(ctx, dbs.DSNs[0])
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `CREATE TEMP TABLE u (a int NOT NULL, b int NOT NULL, c int);
		CREATE UNIQUE INDEX u_c ON u (c); CREATE UNIQUE INDEX u_ba ON u (b, a)`)
	var oid uint32
	_ = conn.QueryRow(ctx, `SELECT 'u'::regclass::oid`).Scan(&oid)
	k, _ := catalog.FindKey(ctx, conn, oid)
	fmt.Println(k.Index, k.Columns, k.Primary)
	// Output: u_ba [b a] false
}
