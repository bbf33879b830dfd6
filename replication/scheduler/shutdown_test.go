package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// blockSource changes table and then locks it on the source until the
// returned function is called, so that a refresh of it waits in its pull.
func (b *bundle) blockSource(t *testing.T, table replication.Table) (release func()) {
	t.Helper()
	b.change(t, table, replication.KindSnapshot, 0)
	ctx := context.Background()
	tx, err := b.Source.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE "+table.Sanitize()+" IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	done := false
	release = func() {
		if !done {
			done = true
			require.NoError(t, tx.Commit(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

// waitBlocked waits until a session waits for the lock on table.
func (b *bundle) waitBlocked(t *testing.T, table replication.Table) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, b.Source.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = $1::regclass`, table.Sanitize()).Scan(&n))
		return n > 0
	}, 30*time.Second, 10*time.Millisecond)
}

// When Run's context ends, a refresh in flight is cancelled at once by
// default: its transaction rolls back, the job stays due with no claim,
// and Run returns nil. The next run pulls the rows.
func TestShutdownAbandonsRefreshInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tbl := b.job(t, replication.KindSnapshot, "slow", time.Hour)
	before := pgtest.Rows(t, b.Dest, `SELECT * FROM public.slow`)
	release := b.blockSource(t, tbl)
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.waitBlocked(t, tbl)
	require.Equal(t, []string{"(slow)"}, pgtest.Rows(t, b.Dest, `SELECT dest_table FROM mimeo.claims`))
	cancel()
	require.NoError(t, <-done)
	require.Len(t, got.list(), 1)
	require.True(t, got.list()[0].Abandoned)
	require.Equal(t, before, pgtest.Rows(t, b.Dest, `SELECT * FROM public.slow`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT job_id FROM mimeo.claims`))
	require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Dest, `SELECT next_run <= now() FROM mimeo.jobs`))

	release()
	// The cancelled refresh's sessions were closed, not returned: the
	// server ends them, and lets their refresh lock go, a moment later.
	require.Eventually(t, func() bool {
		held, err := replication.IsLocked(context.Background(), b.Dest, tbl)
		return err == nil && !held
	}, 10*time.Second, 10*time.Millisecond)
	s2, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add}))
	require.NoError(t, err)
	require.NoError(t, s2.RunDue(context.Background()))
	require.Len(t, got.list(), 2)
	require.NoError(t, got.list()[1].Err)
	b.same(t, tbl)
}

// With a grace period, a refresh in flight when Run's context ends may
// finish.
func TestShutdownGraceLetsRefreshFinish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tbl := b.job(t, replication.KindSnapshot, "slow", time.Hour)
	release := b.blockSource(t, tbl)
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, ShutdownGrace: time.Minute}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.waitBlocked(t, tbl)
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned before its refresh ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	require.NoError(t, <-done)
	require.Len(t, got.list(), 1)
	require.NoError(t, got.list()[0].Err)
	require.False(t, got.list()[0].Abandoned)
	b.same(t, tbl)
}

// A worker whose claim session is lost (here: terminated) keeps running
// its refresh; another worker that then claims the job finds the table's
// refresh lock held and defers it, so the table is refreshed once.
func TestLostClaimSessionStillOneRefreshAtATime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tbl := b.job(t, replication.KindSnapshot, "slow", time.Hour)
	release := b.blockSource(t, tbl)
	b.makeDue(t)
	var got outcomes
	a, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, WorkerID: "A", PollInterval: 20 * time.Millisecond}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.waitBlocked(t, tbl)
	var pid uint32
	require.NoError(t, b.Dest.QueryRow(context.Background(), `SELECT claim_pid FROM mimeo.claims`).Scan(&pid))
	require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Dest, `SELECT pg_terminate_backend($1)`, pid))
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, b.Dest, `SELECT job_id FROM mimeo.claims`)) == 0
	}, 10*time.Second, 10*time.Millisecond)

	other, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, WorkerID: "B"}))
	require.NoError(t, err)
	require.NoError(t, other.RunDue(context.Background()))
	require.Len(t, got.list(), 1)
	require.Equal(t, "B", got.list()[0].Worker)
	require.True(t, got.list()[0].Deferred)

	release()
	require.Eventually(t, func() bool { return len(got.list()) == 2 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, "A", got.list()[1].Worker)
	require.NoError(t, got.list()[1].Err)
	require.Equal(t, map[string][]string{"slow": {"OK"}}, b.refreshJobs(t))
	b.same(t, tbl)
}

// Without Config.Connect the scheduler connects to a source with the
// password-free connection string stored in the catalog, and the password
// from PGPASSWORD.
func TestDefaultConnectTakesPasswordFromEnvironment(t *testing.T) {
	b := setup(t)
	t.Setenv("PGPASSWORD", b.Server.Password)
	tbl := b.job(t, replication.KindTableReload, "plain", time.Hour)
	var stored string
	require.NoError(t, b.Dest.QueryRow(context.Background(), `SELECT conninfo FROM mimeo.sources WHERE name = $1`, sourceName).Scan(&stored))
	cfg, err := pgx.ParseConfig(stored)
	require.NoError(t, err)
	require.NotContains(t, stored, b.Server.Password)
	require.Equal(t, b.Server.Password, cfg.Password, "pgx fills the password in from PGPASSWORD")
	b.change(t, tbl, replication.KindTableReload, 0)
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, &scheduler.Config{OnRun: got.add, JobLog: b.log, Methods: allMethods})
	require.NoError(t, err)
	require.NoError(t, s.RunDue(context.Background()))
	require.Len(t, got.list(), 1)
	require.NoError(t, got.list()[0].Err)
	b.same(t, tbl)
}
