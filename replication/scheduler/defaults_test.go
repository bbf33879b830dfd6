package scheduler_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// A scheduler on a pool at pgxpool's defaults works without settings:
// its concurrency is sized from the pool (one at a time on four
// connections), so refreshes of every kind never starve each other.
func TestDefaultsComposeWithADefaultPool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(b.DestDSN)
	require.NoError(t, err)
	cfg.MaxConns = 4 // pgxpool's default on a machine of up to four cores
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	var tables []replication.Table
	for i, k := range []replication.Kind{replication.KindDML, replication.KindLogDel, replication.KindSnapshot} {
		tables = append(tables, b.job(t, k, fmt.Sprintf("d%d_%s", i, k), time.Hour))
	}
	for i, tbl := range tables {
		b.change(t, tbl, []replication.Kind{replication.KindDML, replication.KindLogDel, replication.KindSnapshot}[i], 0)
	}
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(pool, &scheduler.Config{Methods: allMethods, Connect: b.connect, OnRun: got.add})
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 3)
	for _, o := range got.list() {
		require.NoError(t, o.Err, "%s", o.Dest)
	}
	for _, tbl := range tables {
		b.same(t, tbl)
	}
	// A pool too small for even one refresh is refused, naming the fix.
	cfg.MaxConns = 3
	tiny, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer tiny.Close()
	_, err = scheduler.New(tiny, &scheduler.Config{Methods: allMethods})
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, "set pool_max_conns")
}

// The scheduler opens a source from the pool configuration the service
// gives in Config.Sources, keeping its hooks (here a BeforeConnect that
// takes the password from a "secret store"), instead of the catalog's
// password-free connection string; without it, a refused password names
// the ways to give one.
func TestSourcesKeepThePoolConfiguration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tbl := b.job(t, replication.KindDML, "kept", time.Hour)
	b.change(t, tbl, replication.KindDML, 0)
	b.makeDue(t)

	src, err := pgxpool.ParseConfig(b.SourceDSN)
	require.NoError(t, err)
	secret := src.ConnConfig.Password
	src.ConnConfig.Password = ""
	var hooked atomic.Int32
	src.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		cc.Password = secret
		hooked.Add(1)
		return nil
	}

	// Without it: the stored string has no password.
	if probe, err := pgconn.Connect(ctx, replication.RedactDSN(b.SourceDSN)); err == nil {
		_ = probe.Close(ctx)
		t.Skip("the test server accepts connections without a password")
	}
	var got outcomes
	s, err := scheduler.New(b.Dest, &scheduler.Config{Methods: allMethods, OnRun: got.add, JobLog: b.log})
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 1)
	require.ErrorContains(t, got.list()[0].Err, "the catalog keeps no password: give the worker PGPASSWORD, a pgpass file or a service file")
	require.NotContains(t, got.list()[0].Err.Error(), secret)

	b.makeDue(t)
	got = outcomes{}
	s, err = scheduler.New(b.Dest, &scheduler.Config{Methods: allMethods, OnRun: got.add, JobLog: b.log,
		Sources: map[string]*pgxpool.Config{sourceName: src}})
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 1)
	require.NoError(t, got.list()[0].Err)
	require.Positive(t, hooked.Load(), "the pool was opened from the given configuration")
	b.same(t, tbl)
}
