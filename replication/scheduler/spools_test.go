package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// spoolerLocks lists the sessions that hold a Spool's lock (dml's class
// "splr") in the destination database.
const spoolerLocks = `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = x'73706c72'::int::oid AND granted
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// TestSchedulerRunsSpools: of two workers, one keeps a Spool running for
// the logical dml job that asks for one (Config.Logical.Spool), and none
// for the job that does not; the spool takes the source's changes
// between refreshes, and a refresh applies them. When that worker stops,
// the other takes the Spool over; when the job is paused, its Spool
// stops; when it is resumed, a Spool runs again.
func TestSchedulerRunsSpools(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var spooled replication.Table
	for _, name := range []string{"spooled", "plain"} {
		src := replication.T("public", name)
		pgtest.MustExec(t, b.Source, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, ctl bigint NOT NULL, payload text);
			INSERT INTO %[1]s SELECT g, g, 'row ' || g FROM generate_series(1, 50) g`, src.Sanitize()))
		cfg := &dml.Config{Options: replication.Options{SourceName: sourceName, Period: time.Hour}, Capture: dml.CaptureLogical,
			Logical: dml.LogicalConfig{Spool: name == "spooled", PollInterval: 20 * time.Millisecond}}
		r, err := dml.New(b.Source, b.Dest, src, cfg)
		require.NoError(t, err)
		require.NoError(t, r.Setup(ctx))
		if name == "spooled" {
			spooled = src
		}
	}
	var id int64
	require.NoError(t, b.Dest.QueryRow(ctx, `SELECT job_id FROM mimeo.jobs WHERE dest_table = 'spooled'`).Scan(&id))
	spool := fmt.Sprintf("mimeo.logical_spool_%d", id)
	start := func(name string) (stop func()) {
		wctx, cancel := context.WithCancel(ctx)
		s, err := scheduler.New(b.Dest, b.config(scheduler.Config{Concurrency: 1, Spools: 2, PollInterval: 20 * time.Millisecond,
			Backoff: 50 * time.Millisecond, WorkerID: name}))
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Run(wctx) }()
		return func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	holders := func() int { return len(pgtest.Rows(t, b.Dest, spoolerLocks)) }
	// spooledRows waits until the spool holds changes the source made.
	spooledRows := func(round int) {
		t.Helper()
		pgtest.MustExec(t, b.Source, fmt.Sprintf(`UPDATE public.spooled SET payload = payload || ' r%d' WHERE id %% 10 = %d;
			INSERT INTO public.spooled VALUES (1000 + %[1]d, 0, 'new')`, round, round%10))
		require.Eventually(t, func() bool {
			rows := pgtest.Rows(t, b.Dest, `SELECT count(*) > 0 FROM pg_tables WHERE schemaname = 'mimeo' AND tablename = 'logical_spool_`+fmt.Sprint(id)+`'`)
			return rows[0] == "(t)" && pgtest.Rows(t, b.Dest, `SELECT count(*) > 0 FROM `+spool)[0] == "(t)"
		}, time.Minute, 20*time.Millisecond, "the spool took no changes")
	}
	// refreshed refreshes the job by hand until the destination holds the
	// source's rows.
	refreshed := func() {
		t.Helper()
		r, err := dml.Open(ctx, b.Source, b.Dest, spooled, nil)
		require.NoError(t, err)
		q := `SELECT id, ctl, payload FROM public.spooled`
		require.Eventually(t, func() bool {
			_, err := r.Refresh(ctx)
			require.NoError(t, err)
			return fmt.Sprint(pgtest.Rows(t, b.Source, q)) == fmt.Sprint(pgtest.Rows(t, b.Dest, q))
		}, time.Minute, 50*time.Millisecond)
	}

	stopFirst := start("w0")
	require.Eventually(t, func() bool { return holders() == 1 }, time.Minute, 20*time.Millisecond, "no Spool started")
	stopSecond := start("w1")
	spooledRows(1)
	refreshed()
	require.Equal(t, 1, holders(), "one Spool for the one job that asks for one")

	stopFirst()
	require.Eventually(t, func() bool { return holders() == 1 }, time.Minute, 20*time.Millisecond, "the other worker did not take the Spool over")
	spooledRows(2)
	refreshed()

	cat := replication.NewCatalog("")
	require.NoError(t, cat.SetEnabled(ctx, b.Dest, spooled, false))
	require.Eventually(t, func() bool { return holders() == 0 }, time.Minute, 20*time.Millisecond, "the paused job's Spool did not stop")
	require.NoError(t, cat.SetEnabled(ctx, b.Dest, spooled, true))
	require.Eventually(t, func() bool { return holders() == 1 }, time.Minute, 20*time.Millisecond, "the resumed job got no Spool")
	spooledRows(3)
	refreshed()

	stopSecond()
	require.Zero(t, holders(), "Run stops its Spools when it returns")
}

// TestSpoolsNeedRoomInThePool: Config.Spools beyond what the destination
// pool has room for is refused, naming the field.
func TestSpoolsNeedRoomInThePool(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t) // pools of 8 connections
	_, err := scheduler.New(b.Dest, &scheduler.Config{Concurrency: 2, Spools: 2, Methods: allMethods})
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, "Config.Spools")
	_, err = scheduler.New(b.Dest, &scheduler.Config{Concurrency: 2, Spools: 1, Methods: allMethods})
	require.NoError(t, err)
}
