package dml_test

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

// jobRow is the whole catalog row of the job of dest, as text.
func jobRow(t *testing.T, b *pgtest.Bundle, dest string) []string {
	t.Helper()
	return pgtest.Rows(t, b.Dest, `SELECT row(j.*)::text FROM mimeo.jobs j WHERE dest_schema || '.' || dest_table = $1`, dest)
}

// TestEnsure: Ensure creates the job once; ensuring it again as declared
// writes and logs nothing; run settings and FetchFirst change in place;
// a key, capture, filter or condition change is a RebuildError that
// changes nothing; and the job keeps replicating throughout.
func TestEnsure(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 200) g`)
	log := &memLog{}
	declare := func(cfg dml.Config) *dml.Replicator {
		cfg.JobLog = log
		r, err := dml.New(b.Source, b.Dest, accounts, &cfg)
		require.NoError(t, err)
		return r
	}
	base := dml.Config{Options: replication.Options{Period: time.Minute, BatchLimit: 500}}

	got, err := declare(base).Ensure(ctx)
	require.NoError(t, err)
	require.Equal(t, replication.Ensured{Created: true}, got)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.Equal(t, []string{"DML Maker: public.accounts OK"}, log.closed())

	// The same declaration, three restarts: nothing written, nothing logged.
	row := jobRow(t, b, "public.accounts")
	for range 3 {
		got, err = declare(base).Ensure(ctx)
		require.NoError(t, err)
		require.Equal(t, replication.Ensured{}, got)
	}
	require.Equal(t, row, jobRow(t, b, "public.accounts"))
	require.Len(t, log.closed(), 1)

	// Run settings and FetchFirst change in place.
	changed := base
	changed.Period, changed.BatchLimit, changed.Paused, changed.LockWait, changed.Unlogged = 5*time.Minute, 20, true, replication.Wait(3*time.Second), true
	changed.FetchFirst = true
	got, err = declare(changed).Ensure(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"period", "enabled", "batch_limit", "lock_wait", "unlogged", "fetch_first"}, got.Changed)
	require.Equal(t, []string{`(00:05:00,f,20,00:00:03,f,true)`}, pgtest.Rows(t, b.Dest,
		`SELECT period, enabled, config->'batch_limit', lock_wait, job_log, config->'fetch_first' FROM mimeo.jobs`))
	cat := replication.NewCatalog("")
	job, err := cat.Job(ctx, b.Dest, accounts)
	require.NoError(t, err)
	require.Equal(t, changed.RunSettings(), job.RunSettings())
	require.Len(t, log.closed(), 1, "an in-place change logs no job")

	// What needs a rebuild is refused, naming the setting; nothing changes.
	row = jobRow(t, b, "public.accounts")
	for setting, cfg := range map[string]dml.Config{
		"key":           {Key: []string{"owner"}},
		"capture":       {Capture: dml.CaptureLogical},
		"queue schema":  {QueueSchema: "other_queue"},
		"column filter": {Options: replication.Options{Columns: []string{"id", "owner"}}},
		"condition":     {Options: replication.Options{Condition: "WHERE id > 10"}},
	} {
		_, err = declare(cfg).Ensure(ctx)
		require.ErrorIs(t, err, replication.ErrRebuild, setting)
		var re *replication.RebuildError
		require.ErrorAs(t, err, &re)
		require.Equal(t, setting, re.Setting)
		require.Equal(t, replication.T("public", "accounts"), re.Table)
		require.Contains(t, err.Error(), "Destroy it, then Ensure it again")
	}
	// Keeping deleted rows is another kind.
	ld, err := logdel.New(b.Source, b.Dest, accounts, &logdel.Config{Options: changed.Options})
	require.NoError(t, err)
	_, err = ld.Ensure(ctx)
	var re *replication.RebuildError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "kind", re.Setting)
	require.Equal(t, row, jobRow(t, b, "public.accounts"))

	// The job, changed in place, replicates with its new batch limit.
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = -balance WHERE id <= 50`)
	opened, err := dml.Open(ctx, b.Source, b.Dest, accounts, nil)
	require.NoError(t, err)
	res, err := opened.Refresh(ctx)
	require.NoError(t, err)
	require.True(t, res.More, "a batch limit of 20 leaves changes for the next refresh")
	for res.More {
		res, err = opened.Refresh(ctx)
		require.NoError(t, err)
	}
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}

// TestEnsureConcurrentStarts: replicas that start at once and ensure the
// same job make it once, leave one queue and one set of triggers on the
// source, and log one maker job, which succeeded.
func TestEnsureConcurrentStarts(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`)
	log := &memLog{}
	errs := make(chan error, 4)
	created := make(chan bool, 4)
	for range 4 {
		r, err := dml.New(b.Source, b.Dest, accounts, &dml.Config{Options: replication.Options{Period: time.Minute, JobLog: log}})
		require.NoError(t, err)
		go func() {
			got, err := r.Ensure(ctx)
			created <- got.Created
			errs <- err
		}()
	}
	n := 0
	for range 4 {
		require.NoError(t, <-errs)
		if <-created {
			n++
		}
	}
	require.Equal(t, 1, n)
	require.Equal(t, []string{"DML Maker: public.accounts OK"}, log.closed())
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Source, `SELECT count(*) FROM mimeo_queue.queues`))
	triggers := pgtest.Rows(t, b.Source, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.accounts'::regclass AND NOT tgisinternal`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance + 1 WHERE id <= 20`)
	r, err := dml.New(b.Source, b.Dest, accounts, &dml.Config{})
	require.NoError(t, err)
	_, err = r.Refresh(ctx)
	require.NoError(t, err)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.NotEqual(t, []string{"(0)"}, triggers)
}
