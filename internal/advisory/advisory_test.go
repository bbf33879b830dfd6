package advisory_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/advisory"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

// TestLock: a lock is one session's, keyed by class and name; Poll gives
// up at its deadline or when ctx ends and gets the lock once it is let go;
// Wait obeys lock_timeout; the end of a session lets its locks go.
func TestLock(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	conn := func() *pgxpool.Conn {
		c, err := b.Dest.Acquire(ctx)
		require.NoError(t, err)
		t.Cleanup(c.Release)
		return c
	}
	a, c := conn(), conn()
	l := advisory.Lock{Class: 0x74657374, Name: `"public"."t"`}

	got, err := l.Try(ctx, a)
	require.NoError(t, err)
	require.True(t, got)
	for _, other := range []advisory.Lock{{Class: l.Class, Name: `"public"."u"`}, {Class: l.Class + 1, Name: l.Name}} {
		got, err := other.Try(ctx, c)
		require.NoError(t, err)
		require.True(t, got, "%v is another lock", other)
		require.NoError(t, other.Unlock(ctx, c))
	}
	held, err := l.Held(ctx, c)
	require.NoError(t, err)
	require.True(t, held)

	start := time.Now()
	got, err = l.Poll(ctx, c, time.Now().Add(100*time.Millisecond), 10*time.Millisecond)
	require.NoError(t, err)
	require.False(t, got)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	got, err = l.Poll(cctx, c, time.Time{}, 10*time.Millisecond)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, got)

	_, err = c.Exec(ctx, `SET lock_timeout = '50ms'`)
	require.NoError(t, err)
	require.Equal(t, pgerrcode.LockNotAvailable, sqltext.SQLState(l.Wait(ctx, c)))

	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = l.Unlock(ctx, a)
	}()
	got, err = l.Poll(ctx, c, time.Time{}, 10*time.Millisecond)
	require.NoError(t, err)
	require.True(t, got, "taken once the first session let it go")
	got, err = l.Try(ctx, a)
	require.NoError(t, err)
	require.False(t, got)

	// The end of the holding session lets the lock go.
	c.Conn().Close(ctx)
	require.Eventually(t, func() bool {
		held, err := l.Held(ctx, a)
		return err == nil && !held
	}, 5*time.Second, 20*time.Millisecond)
	got, err = l.Try(ctx, a)
	require.NoError(t, err)
	require.True(t, got)
}
