package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/migrate"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var files = fstest.MapFS{
	"m/001_first.sql":  {Data: []byte(`CREATE TABLE things (id int PRIMARY KEY);`)},
	"m/002_second.sql": {Data: []byte(`ALTER TABLE things ADD COLUMN name text;`)},
}

// TestOwnedSchemaNeedsNoDatabaseCreate migrates, as a role without CREATE
// on the database, a schema that a DBA made for it; without such a schema
// the role cannot migrate.
func TestOwnedSchemaNeedsNoDatabaseCreate(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	role := b.CreateRole()
	pool := pgtest.Pool(t, b.DSN(b.SourceDB, role))
	ms, err := migrate.Load(files, "m")
	require.NoError(t, err)

	_, err = migrate.Apply(ctx, pool, "owned", ms)
	require.ErrorContains(t, err, "permission denied for database")

	pgtest.MustExec(t, b.Source, `CREATE SCHEMA owned AUTHORIZATION `+pgx.Identifier{role.Name}.Sanitize())
	applied, err := migrate.Apply(ctx, pool, "owned", ms)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, applied)
	applied, err = migrate.Apply(ctx, pool, "owned", ms)
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Equal(t, []string{"(id)", "(name)"}, pgtest.Rows(t, b.Source,
		`SELECT attname FROM pg_attribute WHERE attrelid = 'owned.things'::regclass AND attnum > 0`))
}
