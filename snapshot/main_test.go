package snapshot_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// bundle is one test's databases.
type bundle struct {
	*pgtest.Bundle
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return &bundle{Bundle: pgtest.Setup(t)}
}

// newSnap returns a snapshot job of src with cfg.
func (b *bundle) newSnap(t testing.TB, src string, cfg *snapshot.Config) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshot.New(b.Source, b.Dest, replication.MustParseTable(src), cfg)
	require.NoError(t, err)
	return s
}

// same requires the rows of query on the source and of the destination
// relation dest to be equal, row by row.
func (b *bundle) same(t testing.TB, srcQuery, dest string) {
	t.Helper()
	want := pgtest.Rows(t, b.Source, srcQuery)
	got := pgtest.Rows(t, b.Dest, "SELECT * FROM "+dest)
	require.Equal(t, want, got, "rows of %s", dest)
}

// scalar returns one value.
func scalar[T any](t testing.TB, db *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&v))
	return v
}

// change runs sql on the source and makes the session publish its
// statistics before returning, as it would by itself within a second or so.
func (b *bundle) change(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err, sql)
	_, err = conn.Exec(ctx, "SELECT pg_stat_force_next_flush()")
	require.NoError(t, err)
}

// strs returns the first column of every row of sql, as text, sorted.
func strs(t testing.TB, db *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT x::text FROM ("+sql+") q(x) ORDER BY 1", args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	if out == nil {
		out = []string{}
	}
	return out
}

// active returns which table ("snap1" or "snap2") view reads.
func (b *bundle) active(t testing.TB, view string) string {
	t.Helper()
	return scalar[string](t, b.Dest, `SELECT substring(string_agg(DISTINCT t.relname, ',') from '_(snap[12])$')
		FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
		JOIN pg_class t ON t.oid = d.refobjid WHERE r.ev_class = $1::regclass AND d.refobjid <> r.ev_class`, view)
}
