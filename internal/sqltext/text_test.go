package sqltext_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Literals mean their text whatever standard_conforming_strings is, and
// identifier lists quote every name.
func TestLiteralAndIdentList(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	conn, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, scs := range []string{"on", "off"} {
		pgtest.MustExec(t, conn, `SET standard_conforming_strings = `+scs)
		for _, s := range []string{``, `plain`, `it's`, `back\slash`, `\'; DROP TABLE x; --`, `E'x'`, "tab\tnew\nline"} {
			var got string
			require.NoError(t, conn.QueryRow(ctx, `SELECT `+sqltext.Literal(s)).Scan(&got))
			require.Equal(t, s, got, "standard_conforming_strings=%s", scs)
		}
	}
	require.Equal(t, `"a", "B c", "d""e"`, sqltext.IdentList("", []string{"a", "B c", `d"e`}))
	require.Equal(t, `t."a", t."b"`, sqltext.IdentList("t", []string{"a", "b"}))
}

// A statement that waits for a busy lock gives up after the timeout and is
// tried again; it succeeds once the lock is free, and a savepoint attempt
// leaves the session's lock_timeout as it was.
func TestLockRetry(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE busy (id int)`)
	holder, err := b.Source.Begin(ctx)
	require.NoError(t, err)
	pgtest.MustExec(t, holder, `LOCK TABLE busy IN ACCESS EXCLUSIVE MODE`)

	attempts := 0
	lock := func(tx pgx.Tx) error {
		attempts++
		_, err := tx.Exec(ctx, `LOCK TABLE busy IN ACCESS EXCLUSIVE MODE`)
		return err
	}
	err = sqltext.LockRetry(ctx, b.Source, 20*time.Millisecond, 2, lock)
	require.True(t, sqltext.IsLockTimeout(err), "%v", err)
	require.Equal(t, 3, attempts)

	attempts = 0
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = holder.Rollback(ctx)
	}()
	conn, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	pgtest.MustExec(t, conn, `SET lock_timeout = '42s'`)
	outer, err := conn.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, sqltext.LockRetry(ctx, outer, 20*time.Millisecond, 50, lock))
	require.Greater(t, attempts, 1)
	var lt string
	require.NoError(t, outer.QueryRow(ctx, `SHOW lock_timeout`).Scan(&lt))
	require.Equal(t, "42s", lt)
	require.NoError(t, outer.Commit(ctx))
}
