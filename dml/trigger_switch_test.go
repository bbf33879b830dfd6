package dml_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// filling returns which queue table the job's trigger functions fill.
func filling(t *testing.T, b *pgtest.Bundle) string {
	rows := pgtest.Rows(t, b.Source, `SELECT filling FROM mimeo_queue.queues`)
	require.Len(t, rows, 1)
	return rows[0]
}

// A transaction that was writing to the source table when a refresh
// switched queue tables goes on running the functions that fill the table
// the refresh closes (it catches up with catalog changes only when it takes
// a new lock). The refresh waits for it to end before draining that table,
// so its changes, made before and after the switch, are applied and none is
// truncated away.
func TestSwitchWaitsForWritersThatHeldTheTable(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = -1 WHERE id = 50`)
	before := filling(t, b)

	w, err := b.Source.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = w.Rollback(ctx) }()
	_, err = w.Exec(ctx, `UPDATE accounts SET note = 'before the switch' WHERE id = 1`)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := r.Refresh(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return filling(t, b) != before }, 30*time.Second, 5*time.Millisecond,
		"the refresh switches queue tables")
	// The writer still runs the functions it has: this change goes to the
	// table the refresh closed.
	_, err = w.Exec(ctx, `UPDATE accounts SET note = 'after the switch' WHERE id = 2`)
	require.NoError(t, err)
	_, err = w.Exec(ctx, `DELETE FROM accounts WHERE id = 3`)
	require.NoError(t, err)
	select {
	case err := <-done:
		t.Fatalf("the refresh returned (%v) while a writer that may fill the closed table was open", err)
	default:
	}
	require.NoError(t, w.Commit(ctx))
	require.NoError(t, <-done)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.Equal(t, []string{"(1,\"before the switch\")", "(2,\"after the switch\")"},
		pgtest.Rows(t, b.Dest, `SELECT id, note FROM accounts WHERE note IS NOT NULL`))
	require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE id = 3`))
}

// A writer transaction that stays open past the wait makes the refresh
// fail with ErrWritersOpen, naming the fix; nothing is lost, and the next
// refresh after it ends applies everything.
func TestSwitchGivesUpOnWritersLeftOpen(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 10) g`)
	r := newDML(t, b, accounts, &dml.Config{Options: replication.Options{DDLLockTimeout: 20 * time.Millisecond, DDLRetries: 1}})
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 0 WHERE id = 5`)
	w, err := b.Source.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = w.Rollback(ctx) }()
	_, err = w.Exec(ctx, `UPDATE accounts SET note = 'open' WHERE id = 1`)
	require.NoError(t, err)

	_, err = r.Refresh(ctx)
	require.ErrorIs(t, err, dml.ErrWritersOpen)
	require.ErrorContains(t, err, "raise Options.DDLLockTimeout")
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, accounts, te.Table)

	_, err = w.Exec(ctx, `UPDATE accounts SET note = 'later' WHERE id = 2`)
	require.NoError(t, err)
	require.NoError(t, w.Commit(ctx))
	refresh(t, r)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.Equal(t, []string{"(1,open)", "(2,later)"}, pgtest.Rows(t, b.Dest, `SELECT id, note FROM accounts WHERE note IS NOT NULL`))
}

// The trigger functions run as the queue's owner and look nothing up by
// the writer's search_path: a writer whose search_path puts first a schema
// with look-alike tables and an operator of its own still queues into the
// real queue, and its changes are replicated.
func TestCaptureIgnoresTheWritersSearchPath(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 10) g`)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA evil`)
	for _, name := range pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relnamespace = 'mimeo_queue'::regnamespace AND relkind = 'r'`) {
		pgtest.MustExec(t, b.Source, `CREATE TABLE evil.`+replication.QuoteIdent(name[1:len(name)-1])+` (id int)`)
	}
	pgtest.MustExec(t, b.Source, `CREATE FUNCTION evil.never(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT false'`)
	pgtest.MustExec(t, b.Source, `CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.never)`)

	conn, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET search_path = evil, pg_catalog, public`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE public.accounts SET note = 'n' WHERE id = 1`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE public.accounts SET id = 11 WHERE id = 2`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `DELETE FROM public.accounts WHERE id = 3`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `RESET search_path`)
	require.NoError(t, err)
	for _, name := range pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relnamespace = 'evil'::regnamespace AND relkind = 'r'`) {
		require.Empty(t, pgtest.Rows(t, b.Source, `SELECT * FROM evil.`+replication.QuoteIdent(name[1:len(name)-1])))
	}
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}
