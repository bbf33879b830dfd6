package logdel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var items = replication.T("public", "items")

const itemsDDL = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, email text UNIQUE)`

const live = `SELECT id, name, qty, email FROM items WHERE mimeo_source_deleted IS NULL`

// bothCaptures runs test for the trigger capture and for logical capture.
func bothCaptures(t *testing.T, test func(t *testing.T, capture dml.Capture)) {
	t.Parallel()
	for _, c := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			test(t, c)
		})
	}
}

// setup makes table items with rows rows and sets up a job of it with
// capture. The table has REPLICA IDENTITY FULL, which logical capture of
// logdel needs.
func setup(t *testing.T, capture dml.Capture, cfg *logdel.Config, rows int) (*pgtest.Bundle, *dml.Replicator) {
	t.Helper()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, itemsDDL)
	pgtest.MustExec(t, b.Source, `ALTER TABLE items REPLICA IDENTITY FULL`)
	if cfg == nil {
		cfg = &logdel.Config{}
	}
	cfg.Capture = capture
	pgtest.MustExec(t, b.Source, `INSERT INTO items SELECT g, 'n' || g, g, 'e' || g FROM generate_series(1, $1) g`, rows)
	r, err := logdel.New(b.Source, b.Dest, items, cfg)
	require.NoError(t, err)
	require.NoError(t, r.Setup(context.Background()))
	return b, r
}

func refresh(t *testing.T, r *dml.Replicator) replication.Result {
	t.Helper()
	res, err := r.Refresh(context.Background())
	require.NoError(t, err)
	return res
}

func requireLive(t *testing.T, b *pgtest.Bundle) {
	t.Helper()
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM items`), pgtest.Rows(t, b.Dest, live))
}

func now(t *testing.T, b *pgtest.Bundle) time.Time {
	var ts time.Time
	require.NoError(t, b.Source.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&ts))
	return ts
}

func TestDeletedRowsKeptWithLastValues(t *testing.T) {
	bothCaptures(t, testDeletedRowsKeptWithLastValues)
}

func testDeletedRowsKeptWithLastValues(t *testing.T, capture dml.Capture) {
	b, r := setup(t, capture, nil, 20)
	requireLive(t, b)
	before := now(t, b)
	// The last values before the delete are kept, even when they were
	// never refreshed.
	pgtest.MustExec(t, b.Source, `UPDATE items SET qty = -1, name = 'last words' WHERE id IN (3, 4)`)
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id IN (3, 4, 5)`)
	after := now(t, b)
	pgtest.MustExec(t, b.Source, `UPDATE items SET qty = 100 WHERE id = 6`)
	res := refresh(t, r)
	require.Equal(t, [3]int64{0, 1, 3}, [3]int64{res.Inserted, res.Updated, res.Deleted})
	requireLive(t, b)
	require.Equal(t, []string{"(3,\"last words\",-1,e3)", "(4,\"last words\",-1,e4)", "(5,n5,5,e5)"},
		pgtest.Rows(t, b.Dest, `SELECT id, name, qty, email FROM items WHERE mimeo_source_deleted IS NOT NULL`))
	rows, err := b.Dest.Query(context.Background(), `SELECT mimeo_source_deleted FROM items WHERE mimeo_source_deleted IS NOT NULL`)
	require.NoError(t, err)
	stamps, err := pgx_collect(rows)
	require.NoError(t, err)
	for _, ts := range stamps {
		require.True(t, !ts.Before(before) && !ts.After(after), "deletion time %v between %v and %v", ts, before, after)
	}
	// Refreshing again changes nothing; more deletes add to the kept rows.
	res = refresh(t, r)
	require.True(t, res.Skipped)
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id > 15`)
	refresh(t, r)
	requireLive(t, b)
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`), 8)
	// A row inserted and deleted between two refreshes is kept as deleted.
	pgtest.MustExec(t, b.Source, `INSERT INTO items VALUES (50, 'brief', 1, NULL)`)
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id = 50`)
	refresh(t, r)
	require.Equal(t, []string{"(50,brief,t)"}, pgtest.Rows(t, b.Dest, `SELECT id, name, mimeo_source_deleted IS NOT NULL FROM items WHERE id = 50`))
}

func TestKeyReuse(t *testing.T) { bothCaptures(t, testKeyReuse) }

func testKeyReuse(t *testing.T, capture dml.Capture) {
	b, r := setup(t, capture, nil, 10)
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id IN (1, 2)`)
	refresh(t, r)
	// A re-used key replaces the kept row, whether its deletion was
	// refreshed already (1) or not (2, 3).
	pgtest.MustExec(t, b.Source, `INSERT INTO items VALUES (1, 'again', 1, 'e2')`)
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id = 3`)
	pgtest.MustExec(t, b.Source, `INSERT INTO items VALUES (3, 'again3', 3, 'e3')`)
	res := refresh(t, r)
	require.Equal(t, [3]int64{0, 2, 0}, [3]int64{res.Inserted, res.Updated, res.Deleted})
	requireLive(t, b)
	require.Equal(t, []string{"(2,n2,e2)"}, pgtest.Rows(t, b.Dest, `SELECT id, name, email FROM items WHERE mimeo_source_deleted IS NOT NULL`),
		"a deleted row may share a unique value with a live one")
	// A key updated away moves: the old key is not a deletion.
	pgtest.MustExec(t, b.Source, `UPDATE items SET id = 99 WHERE id = 4`)
	refresh(t, r)
	requireLive(t, b)
	require.Equal(t, []string{"(2)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`))
}

func TestRepullKeepsDeletedRows(t *testing.T) { bothCaptures(t, testRepullKeepsDeletedRows) }

func testRepullKeepsDeletedRows(t *testing.T, capture dml.Capture) {
	b, r := setup(t, capture, nil, 30)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id <= 5`)
	refresh(t, r)
	// Not yet refreshed when the repull runs: still kept.
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id BETWEEN 6 AND 8`)
	pgtest.MustExec(t, b.Source, `UPDATE items SET qty = 0`)
	// Key 1 is re-used: the live row wins.
	pgtest.MustExec(t, b.Source, `INSERT INTO items VALUES (1, 'reborn', 1, NULL)`)
	res, err := r.Repull(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(23), res.Inserted)
	requireLive(t, b)
	require.Equal(t, []string{"(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"},
		pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`))
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id = 30`)
	refresh(t, r)
	requireLive(t, b)
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`), 8)
}

func TestConditionAppliesToDeletedRows(t *testing.T) {
	bothCaptures(t, testConditionAppliesToDeletedRows)
}

func testConditionAppliesToDeletedRows(t *testing.T, capture dml.Capture) {
	b, r := setup(t, capture, &logdel.Config{Options: replication.Options{Condition: "WHERE qty > 10"}}, 20)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM items WHERE qty > 10`), pgtest.Rows(t, b.Dest, live))
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id IN (5, 15)`)
	pgtest.MustExec(t, b.Source, `UPDATE items SET qty = 0 WHERE id = 16`)
	refresh(t, r)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM items WHERE qty > 10`), pgtest.Rows(t, b.Dest, live))
	require.Equal(t, []string{"(15)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`),
		"only a deleted row that matched the condition is kept")
}

func TestDestinationShape(t *testing.T) { bothCaptures(t, testDestinationShape) }

func testDestinationShape(t *testing.T, capture dml.Capture) {
	b, _ := setup(t, capture, nil, 1)
	require.Equal(t, []string{
		`("CREATE UNIQUE INDEX ON public.items USING btree (email) WHERE (mimeo_source_deleted IS NULL)")`,
		`("CREATE UNIQUE INDEX ON public.items USING btree (id)")`,
	}, pgtest.Rows(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = 'items'::regclass`))
	require.Equal(t, []string{"(logdel)"}, pgtest.Rows(t, b.Dest, `SELECT kind FROM mimeo.jobs`))
	// A source column of the reserved name is refused.
	pgtest.MustExec(t, b.Source, `CREATE TABLE clash (id int PRIMARY KEY, mimeo_source_deleted timestamptz)`)
	r, err := logdel.New(b.Source, b.Dest, replication.T("public", "clash"), &logdel.Config{Capture: capture})
	require.NoError(t, err)
	err = r.Setup(context.Background())
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, "mimeo_source_deleted")
}

// TestColumnAddKeepsDeletedRows follows the documented order of adding a
// column: the job is destroyed keeping its table, the column is added to
// the destination, then to the source, and the job is set up again on the
// existing table; the rows kept for deletions survive the repull.
func TestColumnAddKeepsDeletedRows(t *testing.T) { bothCaptures(t, testColumnAddKeepsDeletedRows) }

func testColumnAddKeepsDeletedRows(t *testing.T, capture dml.Capture) {
	b, r := setup(t, capture, nil, 10)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id <= 3`)
	refresh(t, r)
	require.NoError(t, r.Destroy(ctx, &replication.DestroyOptions{KeepTable: true}))
	pgtest.MustExec(t, b.Dest, `ALTER TABLE items ADD COLUMN color text`)
	pgtest.MustExec(t, b.Source, `ALTER TABLE items ADD COLUMN color text`)
	pgtest.MustExec(t, b.Source, `UPDATE items SET color = 'red' WHERE id > 5`)
	again, err := logdel.New(b.Source, b.Dest, items, &logdel.Config{Options: replication.Options{AdoptDest: true}, Capture: capture})
	require.NoError(t, err)
	require.NoError(t, again.Setup(ctx))
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id = 10`)
	refresh(t, again)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM items`),
		pgtest.Rows(t, b.Dest, `SELECT id, name, qty, email, color FROM items WHERE mimeo_source_deleted IS NULL`))
	require.Equal(t, []string{"(1)", "(10)", "(2)", "(3)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM items WHERE mimeo_source_deleted IS NOT NULL`),
		"deletions refreshed before, and one queued when the job was set up again")
	pgtest.MustExec(t, b.Source, `DELETE FROM items WHERE id = 9`)
	refresh(t, again)
	require.Equal(t, []string{"(9,red)"}, pgtest.Rows(t, b.Dest, `SELECT id, color FROM items WHERE id = 9 AND mimeo_source_deleted IS NOT NULL`))
}
