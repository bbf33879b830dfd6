package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// TestRunStoppedWhileStarting: a SIGTERM that reaches run while it is
// still starting, here waiting to migrate the catalog (another session
// holds the migration lock), stops it with exit code 0 and no error, as a
// supervisor's stop at any other moment does; the catalog is left as it
// was, and the next run migrates it and runs.
func TestRunStoppedWhileStarting(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	holder, err := b.Dest.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	// The migration lock of schema "mimeo" (internal/migrate: class "migr").
	_, err = holder.Exec(ctx, `SELECT pg_advisory_xact_lock(x'6d696772'::int, hashtext('mimeo'))`)
	require.NoError(t, err)

	c := newCLI(t)
	w, out := c.start("run", "--dest", b.DestDSN, "--poll", "100ms")
	deadline := time.Now().Add(time.Minute)
	for len(pgtest.Rows(t, b.Dest, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = x'6d696772'::int::oid AND NOT granted`)) == 0 {
		require.True(t, time.Now().Before(deadline), "run never waited for the migration lock: %s", out.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 0, stop(t, w), out.String())
	require.NotContains(t, out.String(), "canceled")
	require.NoError(t, holder.Rollback(ctx))
	require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT nspname FROM pg_namespace WHERE nspname = 'mimeo'`))

	w, out = c.start("run", "--dest", b.DestDSN, "--poll", "100ms")
	for !strings.Contains(out.String(), "stop with SIGTERM") {
		require.True(t, time.Now().Before(deadline), "run did not start: %s", out.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 0, stop(t, w), out.String())
	require.Equal(t, []string{"(mimeo)"}, pgtest.Rows(t, b.Dest, `SELECT nspname FROM pg_namespace WHERE nspname = 'mimeo'`))
}
