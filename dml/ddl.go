package dml

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/durable"
)

// beginner starts transactions: a pool, a pooled connection or a
// connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// withLockRetry runs fn in a transaction of db whose statements wait at most
// timeout for a lock. A lock timeout (SQLSTATE 55P03) rolls the transaction
// back and runs it again, up to retries more times, with a growing pause.
// It is how statements that lock a live table (the source table, a queue
// table) are run: a writer is never held up for longer than timeout.
func withLockRetry(ctx context.Context, db beginner, timeout time.Duration, retries int, fn func(tx pgx.Tx) error) error {
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := inTx(ctx, db, func(tx pgx.Tx) error {
			ms := timeout.Milliseconds()
			if ms < 1 {
				ms = 1
			}
			if _, err := tx.Exec(ctx, `SELECT pg_catalog.set_config('lock_timeout', $1, true)`, fmt.Sprintf("%dms", ms)); err != nil {
				return err
			}
			return fn(tx)
		})
		if err == nil || !isLockTimeout(err) || attempt >= retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		if pause < time.Second {
			pause *= 2
		}
	}
}

// inTx runs fn in a transaction of db, committing when fn succeeds and
// rolling back (even when ctx has ended) when it fails. Every transaction
// dml commits is durable (see internal/durable): on the destination, its
// commit may be followed by a queue truncation or a slot confirmation on
// the source, which must never outrun it.
func inTx(ctx context.Context, db beginner, fn func(tx pgx.Tx) error) error {
	return durable.InTx(ctx, db, fn)
}

func isLockTimeout(err error) bool { return sqlState(err) == pgerrcode.LockNotAvailable }

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
