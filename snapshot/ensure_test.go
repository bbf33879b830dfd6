package snapshot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// TestEnsure: a snapshot and a table job are created once; ensured again
// as declared they are left untouched and log nothing; their in-place
// settings change in place; a filter or condition change is a
// RebuildError that changes nothing; the jobs refresh throughout.
func TestEnsure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.change(t, `CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2))`)
	b.change(t, `INSERT INTO public.orders SELECT g, 'c' || g % 17, g * 1.5 FROM generate_series(1, 300) g`)
	log := &memLog{}
	jobs := func() []string {
		return pgtest.Rows(t, b.Dest, `SELECT row(j.*)::text FROM mimeo.jobs j ORDER BY job_id`)
	}
	snap := func(cfg snapshot.Config) *snapshot.Snapshot {
		cfg.JobLog = log
		return b.newSnap(t, "public.orders", &cfg)
	}
	table := func(cfg snapshot.TableConfig) *snapshot.Table {
		cfg.JobLog, cfg.Dest = log, replication.T("public", "orders_copy")
		return b.newTable(t, "public.orders", &cfg)
	}
	base := snapshot.Config{Options: replication.Options{Period: time.Hour}}
	tbase := snapshot.TableConfig{Options: replication.Options{Period: time.Hour}}

	got, err := snap(base).Plan(ctx) // no catalog yet
	require.NoError(t, err)
	require.True(t, got.Created)
	got, err = snap(base).Ensure(ctx)
	require.NoError(t, err)
	require.True(t, got.Created)
	got, err = table(tbase).Plan(ctx) // a catalog without this job
	require.NoError(t, err)
	require.True(t, got.Created)
	require.Equal(t, []string{"(0)"}, pgtest.Rows(t, b.Dest, `SELECT count(*) FROM mimeo.jobs WHERE dest_table = 'orders_copy'`))
	got, err = table(tbase).Ensure(ctx)
	require.NoError(t, err)
	require.True(t, got.Created)
	b.same(t, "SELECT * FROM public.orders", "public.orders")
	b.same(t, "SELECT * FROM public.orders", "public.orders_copy")
	logged := len(log.jobs)

	before := jobs()
	for range 3 {
		got, err = snap(base).Ensure(ctx)
		require.NoError(t, err)
		require.Equal(t, replication.Ensured{}, got)
		got, err = table(tbase).Ensure(ctx)
		require.NoError(t, err)
		require.Equal(t, replication.Ensured{}, got)
	}
	require.Equal(t, before, jobs())
	require.Len(t, log.jobs, logged)

	s2 := base
	s2.Period, s2.SkipUnchanged, s2.PostScripts = 10*time.Minute, true, []string{"SELECT 1"}
	got, err = snap(s2).Plan(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"period", "skip_unchanged", "post_scripts"}, got.Changed)
	require.Equal(t, before, jobs(), "Plan changes nothing")
	got, err = snap(s2).Ensure(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"period", "skip_unchanged", "post_scripts"}, got.Changed)
	t2 := tbase
	t2.Paused, t2.TruncateCascade = true, true
	got, err = table(t2).Ensure(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"enabled", "truncate_cascade"}, got.Changed)
	require.Equal(t, []string{`(orders,00:10:00,t,true,"[""SELECT 1""]",)`, `(orders_copy,01:00:00,f,,,true)`}, pgtest.Rows(t, b.Dest,
		`SELECT dest_table, period, enabled, config->'skip_unchanged', config->'post_scripts', config->'truncate_cascade' FROM mimeo.jobs ORDER BY dest_table`))
	require.Len(t, log.jobs, logged)

	before = jobs()
	for setting, cfg := range map[string]snapshot.Config{
		"column filter":                   {Options: replication.Options{Columns: []string{"id", "total"}, SkipIndexes: true}},
		"condition":                       {Options: replication.Options{Condition: "WHERE id > 10"}},
		"index replication (SkipIndexes)": {Options: replication.Options{SkipIndexes: true}},
	} {
		_, err = snap(cfg).Ensure(ctx)
		var re *replication.RebuildError
		require.ErrorAs(t, err, &re, setting)
		require.Equal(t, setting, re.Setting)
		_, perr := snap(cfg).Plan(ctx)
		require.Equal(t, err.Error(), perr.Error(), "Plan foresees the rebuild")
	}
	_, err = table(snapshot.TableConfig{Options: replication.Options{Condition: "id > 1"}}).Ensure(ctx)
	require.ErrorIs(t, err, replication.ErrRebuild)
	require.Equal(t, before, jobs())

	b.change(t, `UPDATE public.orders SET total = total * 2 WHERE id % 4 = 0`)
	_, err = snap(s2).Refresh(ctx)
	require.NoError(t, err)
	_, err = table(t2).Refresh(ctx)
	require.NoError(t, err)
	b.same(t, "SELECT * FROM public.orders", "public.orders")
	b.same(t, "SELECT * FROM public.orders", "public.orders_copy")
}

// TestEnsureConcurrentStarts: replicas of a service that start at once
// and ensure the same job make it once; the others find it made, and no
// failure reaches the job log, so check_job_status stays OK.
func TestEnsureConcurrentStarts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.change(t, `CREATE TABLE public.prices (sku text PRIMARY KEY, price numeric(10,2) NOT NULL)`)
	b.change(t, `INSERT INTO public.prices SELECT 'SKU-' || g, g FROM generate_series(1, 500) g`)
	log, err := jobmon.Open(ctx, b.DestDSN, nil)
	require.NoError(t, err)
	defer log.Close()
	require.NoError(t, log.Migrate(ctx))
	const replicas = 4
	results := make(chan replication.Ensured, replicas)
	errs := make(chan error, replicas)
	var wg sync.WaitGroup
	for range replicas {
		s := b.newSnap(t, "public.prices", &snapshot.Config{Options: replication.Options{Period: time.Minute, JobLog: log}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Ensure(ctx)
			results <- got
			errs <- err
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	created := 0
	for got := range results {
		if got.Created {
			created++
		} else {
			require.Empty(t, got.Changed)
		}
	}
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, created)
	b.same(t, "SELECT * FROM public.prices", "public.prices")
	alerts, err := log.CheckJobStatus(ctx)
	require.NoError(t, err)
	for _, a := range alerts {
		require.LessOrEqual(t, a.Code, jobmon.LevelOK, "%+v", a)
	}
}
