package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// RunDue runs every due job once, of every kind, and records when each is
// next due; a second call finds nothing due.
func TestRunDueRunsEveryDueJobOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	kinds := map[replication.Table]replication.Kind{}
	for i, k := range mixedKinds {
		kinds[b.job(t, k, fmt.Sprintf("t%d_%s", i, k), time.Hour)] = k
	}
	// Just set up: not due for an hour.
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Empty(t, got.list())

	for tbl, k := range kinds {
		b.change(t, tbl, k, 0)
	}
	b.makeDue(t)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), len(kinds))
	for _, o := range got.list() {
		require.NoError(t, o.Err, "%s", o.Dest)
		require.False(t, o.Deferred || o.Abandoned)
		require.Equal(t, kinds[o.Dest], o.Kind)
		require.Equal(t, s.WorkerID(), o.Worker)
	}
	for tbl := range kinds {
		b.same(t, tbl)
	}
	// Next due a period after the run, and no claim left.
	require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Dest, `SELECT bool_and(next_run BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes') FROM mimeo.jobs`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT job_id FROM mimeo.claims`))
	require.Equal(t, []string{"(" + s.WorkerID() + ")"}, pgtest.Rows(t, b.Dest, `SELECT DISTINCT claimed_by FROM mimeo.jobs`))

	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), len(kinds))
	for _, statuses := range b.refreshJobs(t) {
		require.Equal(t, []string{"OK"}, statuses)
	}
	require.Len(t, b.refreshJobs(t), len(kinds))
}

// Two schedulers over one catalog share the due jobs: each runs once, and
// none twice at once.
func TestSchedulersShareTheWork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const jobs = 10
	kinds := map[replication.Table]replication.Kind{}
	for i := range jobs {
		k := mixedKinds[i%len(mixedKinds)]
		kinds[b.job(t, k, fmt.Sprintf("s%02d", i), time.Hour)] = k
	}
	for tbl, k := range kinds {
		b.change(t, tbl, k, 0)
	}
	b.makeDue(t)
	var got outcomes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 2)
	for w := range 2 {
		s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, Concurrency: 2,
			PollInterval: 50 * time.Millisecond, WorkerID: fmt.Sprintf("w%d", w)}))
		require.NoError(t, err)
		go func() { errs <- s.Run(ctx) }()
	}
	require.Eventually(t, func() bool { return len(got.list()) >= jobs }, time.Minute, 20*time.Millisecond)
	// Nothing is due any more: a third scheduler finds nothing to run.
	var third outcomes
	s3, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: third.add}))
	require.NoError(t, err)
	require.NoError(t, s3.RunDue(context.Background()))
	require.Empty(t, third.list())
	cancel()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.Len(t, got.list(), jobs)
	per := got.perDest()
	require.Len(t, per, jobs)
	for name, n := range per {
		require.Equal(t, 1, n, name)
	}
	for _, o := range got.list() {
		require.NoError(t, o.Err)
	}
	for tbl := range kinds {
		b.same(t, tbl)
	}
	b.noOverlap(t)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT job_id FROM mimeo.claims`))
}

// A failing job backs off (doubling, never sooner than its period), is
// logged to the job log as CRITICAL, and does not stop the others.
func TestFailingJobBacksOffAndOthersRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	good := b.job(t, replication.KindSnapshot, "good", time.Second)
	bad := b.job(t, replication.KindTableReload, "bad", time.Second)
	pgtest.MustExec(t, b.Source, `DROP TABLE public.bad`)
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, Backoff: 10 * time.Minute}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	byDest := map[string]scheduler.Outcome{}
	for _, o := range got.list() {
		byDest[o.Dest.Name] = o
	}
	require.Len(t, byDest, 2)
	require.NoError(t, byDest[good.Name].Err)
	require.ErrorIs(t, byDest[bad.Name].Err, replication.ErrTableNotFound)
	require.Equal(t, []string{"(1,t)"}, pgtest.Rows(t, b.Dest, `SELECT failures,
		next_run BETWEEN now() + interval '9 minutes' AND now() + interval '11 minutes' FROM mimeo.jobs WHERE dest_table = 'bad'`))

	// Due again: the second failure in a row waits twice as long.
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET next_run = now() - interval '1 second' WHERE dest_table IN ('bad', 'good')`)
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET last_run = now() - interval '1 minute'`)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 4)
	require.Equal(t, []string{"(2,t)"}, pgtest.Rows(t, b.Dest, `SELECT failures,
		next_run BETWEEN now() + interval '19 minutes' AND now() + interval '21 minutes' FROM mimeo.jobs WHERE dest_table = 'bad'`))
	jobs := b.refreshJobs(t)
	require.Equal(t, []string{"CRITICAL", "CRITICAL"}, jobs[bad.Name])
	require.Equal(t, []string{"OK", "OK"}, jobs[good.Name])
	b.same(t, good)
}

// A job of a kind without an Opener (here: a registry that leaves dml out)
// is a failure of that job, logged and backed off, never skipped in silence.
func TestUnknownKindIsReported(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	good := b.job(t, replication.KindInserterSerial, "good", time.Minute)
	cat := replication.NewCatalog("")
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.queued (id int PRIMARY KEY)`)
	require.NoError(t, cat.CreateJob(ctx, b.Dest, &replication.Job{Kind: replication.KindDML, SourceName: sourceName,
		SourceTable: replication.T("public", "queued"), Dest: replication.T("public", "queued"), Period: time.Minute}))
	b.makeDue(t)
	var got outcomes
	noDML := []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, logdel.Method}
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, Methods: noDML}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 2)
	for _, o := range got.list() {
		if o.Dest == good {
			require.NoError(t, o.Err)
			continue
		}
		require.ErrorIs(t, o.Err, scheduler.ErrNoMethod)
		require.Contains(t, o.Err.Error(), `"dml"`)
	}
	require.Equal(t, []string{"(CRITICAL)"}, pgtest.Rows(t, b.Dest, `SELECT status FROM jobmon.job_log WHERE job_name = 'SCHEDULED REFRESH: PUBLIC.QUEUED'`))
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Dest, `SELECT failures FROM mimeo.jobs WHERE dest_table = 'queued'`))
}

// Kinds, Tables and MaxJobs narrow what a scheduler runs.
func TestFiltersAndCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	snaps := []replication.Table{b.job(t, replication.KindSnapshot, "a", time.Minute), b.job(t, replication.KindSnapshot, "b", time.Minute)}
	tables := []replication.Table{b.job(t, replication.KindTableReload, "c", time.Minute), b.job(t, replication.KindTableReload, "d", time.Minute)}
	b.makeDue(t)
	run := func(c scheduler.Config) []string {
		var got outcomes
		c.OnRun = got.add
		s, err := scheduler.New(b.Dest, b.config(c))
		require.NoError(t, err)
		require.NoError(t, s.RunDue(ctx))
		return names(got.perDest())
	}
	require.Equal(t, []string{"c"}, run(scheduler.Config{Tables: tables[:1]}))
	require.Equal(t, []string{"a", "b"}, run(scheduler.Config{Kinds: []replication.Kind{replication.KindSnapshot}}))
	require.Len(t, run(scheduler.Config{MaxJobs: 1, Concurrency: 2}), 1)
	require.Equal(t, []string{}, run(scheduler.Config{Tables: snaps}))
}

// A job whose refresh lock is held (a refresh run by hand) is put back for
// Backoff without a run and without a skipped job in the log.
func TestHeldRefreshLockDefersTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tbl := b.job(t, replication.KindSnapshot, "busy", time.Hour)
	b.makeDue(t)
	conn, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	lock, err := replication.AcquireLock(ctx, conn, tbl, nil)
	require.NoError(t, err)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, Backoff: 5 * time.Minute}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 1)
	require.True(t, got.list()[0].Deferred)
	require.ErrorIs(t, got.list()[0].Err, replication.ErrLocked)
	require.Empty(t, b.refreshJobs(t))
	require.Equal(t, []string{"(0,t)"}, pgtest.Rows(t, b.Dest, `SELECT failures,
		next_run BETWEEN now() + interval '4 minutes' AND now() + interval '6 minutes' FROM mimeo.jobs`))
	require.NoError(t, lock.Release(ctx))
}

// A bad Config is refused, naming the field.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	for field, c := range map[string]scheduler.Config{
		"Config.Concurrency":    {Concurrency: -1},
		"Config.Backoff":        {Backoff: -time.Second},
		"Config.ClaimKeepalive": {ClaimKeepalive: time.Second},
		"Config.Tables[0]":      {Tables: []replication.Table{{Schema: "public"}}},
		"Config.Methods":        {Methods: []replication.Method{}},
		"Config.Methods[0]":     {Methods: []replication.Method{{Name: "empty"}}},
	} {
		if c.Methods == nil {
			c.Methods = allMethods
		}
		_, err := scheduler.New(b.Dest, &c)
		var oe *replication.OptionError
		require.ErrorAs(t, err, &oe, field)
		require.Equal(t, field, oe.Field)
	}
	_, err := scheduler.New(nil, nil)
	require.ErrorIs(t, err, replication.ErrBadOption)
	_, err = scheduler.New(b.Dest, nil)
	var oe *replication.OptionError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Config.Methods", oe.Field)
	s, err := scheduler.New(b.Dest, &scheduler.Config{Methods: allMethods})
	require.NoError(t, err)
	require.NotEmpty(t, s.WorkerID())
}

// A destination pool too small for the refreshes asked for is refused: a
// dml refresh takes up to three connections, and concurrent refreshes that
// each got part of what they need would wait on each other for ever.
func TestNewRefusesTooSmallPool(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	cfg, err := pgxpool.ParseConfig(b.DestDSN)
	require.NoError(t, err)
	cfg.MaxConns = 6
	small, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer small.Close()
	_, err = scheduler.New(small, &scheduler.Config{Concurrency: 2, Methods: allMethods})
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, "need at least 7")
	_, err = scheduler.New(small, &scheduler.Config{Concurrency: 1, Methods: allMethods})
	require.NoError(t, err)
}

// A job's run settings are the scheduler's: a paused job is left alone
// until resumed, an unlogged one runs without a job in the log.
func TestJobRunSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	logged := b.job(t, replication.KindSnapshot, "logged", time.Hour)
	quiet := b.job(t, replication.KindSnapshot, "quiet", time.Hour)
	paused := b.job(t, replication.KindSnapshot, "paused", time.Hour)
	cat := replication.NewCatalog("")
	job, err := cat.Job(ctx, b.Dest, quiet)
	require.NoError(t, err)
	rs := job.RunSettings()
	rs.Unlogged = true
	require.NoError(t, cat.SetRunSettings(ctx, b.Dest, quiet, rs))
	require.NoError(t, cat.SetEnabled(ctx, b.Dest, paused, false))
	for _, tbl := range []replication.Table{logged, quiet, paused} {
		b.change(t, tbl, replication.KindSnapshot, 0)
	}
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Equal(t, map[string]int{"logged": 1, "quiet": 1}, got.perDest())
	require.Equal(t, map[string][]string{"logged": {"OK"}}, b.refreshJobs(t))
	b.same(t, logged)
	b.same(t, quiet)

	require.NoError(t, cat.SetEnabled(ctx, b.Dest, paused, true))
	b.makeDue(t)
	require.NoError(t, s.RunDue(ctx))
	require.Equal(t, map[string]int{"logged": 2, "quiet": 2, "paused": 1}, got.perDest())
	b.same(t, paused)
	require.ErrorIs(t, cat.SetEnabled(ctx, b.Dest, replication.T("public", "nope"), true), replication.ErrNotManaged)
}
