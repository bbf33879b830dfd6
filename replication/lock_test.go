package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func acquireConn(t *testing.T, p *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	c, err := p.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(c.Release)
	return c
}

func TestLockRefusesSecondRefreshWhenNotWaiting(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	tbl := replication.T("public", "Snap-test-Source")
	first, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, nil)
	require.NoError(t, err)
	held, err := replication.IsLocked(ctx, b.Dest, tbl)
	require.NoError(t, err)
	require.True(t, held)

	_, err = replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, nil)
	require.ErrorIs(t, err, replication.ErrLocked)
	require.ErrorContains(t, err, `"public"."Snap-test-Source"`)

	// A short wait also gives up while the lock is held.
	start := time.Now()
	_, err = replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, replication.Wait(200*time.Millisecond))
	require.ErrorIs(t, err, replication.ErrLocked)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "gave up before waiting")

	require.NoError(t, first.Release(ctx))
	require.NoError(t, first.Release(ctx), "releasing twice is harmless")
	held, err = replication.IsLocked(ctx, b.Dest, tbl)
	require.NoError(t, err)
	require.False(t, held)
}

func TestLockWaitsAndSucceeds(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	tbl := replication.T("public", "orders")
	for _, wait := range []*time.Duration{replication.Wait(30 * time.Second), replication.Wait(0)} {
		first, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, nil)
		require.NoError(t, err)
		got := make(chan error, 1)
		second := acquireConn(t, b.Dest)
		// A session's own short lock_timeout neither cuts the wait short
		// nor is lost.
		_, err = second.Exec(ctx, `SET lock_timeout = '42ms'`)
		require.NoError(t, err)
		go func() {
			l, err := replication.AcquireLock(ctx, second, tbl, wait)
			if err == nil {
				err = l.Release(ctx)
			}
			got <- err
		}()
		// The waiter is blocked on the lock in the server.
		require.Eventually(t, func() bool {
			var waiting bool
			_ = b.Dest.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting)
			return waiting
		}, 10*time.Second, 10*time.Millisecond)
		select {
		case err := <-got:
			t.Fatalf("waiter returned while the lock was held: %v", err)
		default:
		}
		require.NoError(t, first.Release(ctx))
		select {
		case err := <-got:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("waiter did not get the lock after release")
		}
		// The waiting session's own lock_timeout is back.
		var lt string
		require.NoError(t, second.QueryRow(ctx, `SHOW lock_timeout`).Scan(&lt))
		require.Equal(t, "42ms", lt)
	}
}

func TestLockWaitForeverEndsWithContext(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	tbl := replication.T("public", "t")
	first, err := replication.AcquireLock(context.Background(), acquireConn(t, b.Dest), tbl, nil)
	require.NoError(t, err)
	defer first.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, replication.Wait(-1))
	require.Error(t, err)
	require.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
}

func TestLocksOfDifferentTablesDoNotBlock(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	a, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), replication.T("public", "a"), nil)
	require.NoError(t, err)
	// Same name in another schema, and a name that differs only in case.
	for _, other := range []replication.Table{replication.T("other", "a"), replication.T("public", "A"), replication.T("public", "b")} {
		l, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), other, nil)
		require.NoError(t, err, other.String())
		require.NoError(t, l.Release(ctx))
	}
	require.NoError(t, a.Release(ctx))
}

func TestLockIsFreedWhenTheSessionDies(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	tbl := replication.T("public", "t")
	holder := acquireConn(t, b.Dest)
	_, err := replication.AcquireLock(ctx, holder, tbl, nil)
	require.NoError(t, err)
	pid := holder.Conn().PgConn().PID()
	pgtest.MustExec(t, b.Dest, `SELECT pg_terminate_backend($1)`, pid)
	l, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, replication.Wait(10*time.Second))
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
}
