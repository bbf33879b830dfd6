package sqltext

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Beginner starts transactions: a pool, a pooled connection, a connection,
// or a transaction (then each attempt is a savepoint of it).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// LockRetry is how statements that lock a live table run: fn runs in a
// transaction of db (a savepoint when db is a transaction) whose
// statements wait at most timeout for a lock. When the wait expires
// (SQLSTATE 55P03) the attempt is rolled back, so that the sessions queued
// behind the lock request go on, and fn runs again after a pause (50 ms,
// doubling up to a second), up to retries more times; the last error is
// returned. A writer is never held up for longer than timeout. After a
// successful attempt in a savepoint, lock_timeout is what it was before.
func LockRetry(ctx context.Context, db Beginner, timeout time.Duration, retries int, fn func(tx pgx.Tx) error) error {
	lt := fmt.Sprintf("%dms", max(timeout.Milliseconds(), 1))
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := lockAttempt(ctx, db, lt, fn)
		if err == nil || !IsLockTimeout(err) || attempt >= retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Second)
	}
}

func lockAttempt(ctx context.Context, db Beginner, timeout string, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	var prev string
	err = tx.QueryRow(ctx, `SELECT pg_catalog.current_setting('lock_timeout'), pg_catalog.set_config('lock_timeout', $1, true)`,
		timeout).Scan(&prev, new(string))
	if err == nil {
		err = fn(tx)
	}
	if err == nil {
		_, err = tx.Exec(ctx, `SELECT pg_catalog.set_config('lock_timeout', $1, true)`, prev)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}
