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
	"m/001_first.sql":  {Data: []byte(`CREATE TABLE a (id int); CREATE FUNCTION count_a() RETURNS bigint LANGUAGE sql SET search_path FROM CURRENT AS 'SELECT count(*) FROM a';`)},
	"m/002_second.sql": {Data: []byte(`INSERT INTO a VALUES (1), (2);`)},
	"m/readme.txt":     {Data: []byte(`not a migration`)},
}

func TestApplyInOrderOnceAndIntoTheSchema(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	ms, err := migrate.Load(files, "m")
	require.NoError(t, err)
	require.Len(t, ms, 2)
	got, err := migrate.Apply(ctx, b.Dest, "My Schema", ms)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, got)
	got, err = migrate.Apply(ctx, b.Dest, "My Schema", ms)
	require.NoError(t, err)
	require.Empty(t, got)
	v, err := migrate.Version(ctx, b.Dest, "My Schema")
	require.NoError(t, err)
	require.Equal(t, 2, v)
	// Objects landed in the schema, and the function finds its table from
	// any search_path.
	require.Equal(t, []string{"(1)", "(2)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM "My Schema".a`))
	require.Equal(t, []string{"(2)"}, pgtest.Rows(t, b.Dest, `SELECT "My Schema".count_a()`))
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	bad := fstest.MapFS{
		"m/001_ok.sql":  {Data: []byte(`CREATE TABLE ok (id int);`)},
		"m/002_bad.sql": {Data: []byte(`CREATE TABLE half (id int); SELECT 1/0;`)},
	}
	ms, err := migrate.Load(bad, "m")
	require.NoError(t, err)
	got, err := migrate.Apply(ctx, b.Dest, "s", ms)
	require.ErrorContains(t, err, "002_bad.sql")
	require.ErrorContains(t, err, "division by zero")
	require.Equal(t, []int{1}, got)
	require.Equal(t, []string{"(ok)"}, pgtest.Rows(t, b.Dest, `SELECT tablename FROM pg_tables WHERE schemaname = 's' AND tablename <> 'schema_version'`))
	v, err := migrate.Version(ctx, b.Dest, "s")
	require.NoError(t, err)
	require.Equal(t, 1, v)
}

func TestLoadRejectsBadNames(t *testing.T) {
	_, err := migrate.Load(fstest.MapFS{"m/first.sql": {Data: []byte(`;`)}}, "m")
	require.ErrorContains(t, err, "positive number")
	_, err = migrate.Load(fstest.MapFS{"m/001_a.sql": {}, "m/1_b.sql": {}}, "m")
	require.ErrorContains(t, err, "share version 1")
}

// TestOwnedSchemaNeedsNoDatabaseCreate migrates, as a role without CREATE
// on the database, a schema that a DBA made for it; without such a schema
// the role cannot migrate.
func TestOwnedSchemaNeedsNoDatabaseCreate(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	role := b.CreateRole(t)
	pool := pgtest.Pool(t, b.DSN(b.SourceDB, role))
	things := fstest.MapFS{
		"m/001_first.sql":  {Data: []byte(`CREATE TABLE things (id int PRIMARY KEY);`)},
		"m/002_second.sql": {Data: []byte(`ALTER TABLE things ADD COLUMN name text;`)},
	}
	ms, err := migrate.Load(things, "m")
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

// TestScript: the printed script, run by another tool, makes what Apply
// makes and records the versions, so Apply then has nothing to do.
func TestScript(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	ms, err := migrate.Load(files, "m")
	require.NoError(t, err)
	_, err = b.Dest.Exec(ctx, migrate.Script("Their Schema", ms))
	require.NoError(t, err)
	got, err := migrate.Apply(ctx, b.Dest, "Their Schema", ms)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, []string{"(1)", "(2)"}, pgtest.Rows(t, b.Dest, `SELECT id::text FROM "Their Schema".a ORDER BY id`))
	require.Equal(t, []string{"(2)"}, pgtest.Rows(t, b.Dest, `SELECT "Their Schema".count_a()::text`))
}
