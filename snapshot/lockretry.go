package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// lockRetry runs fn, which takes locks on live objects, inside a savepoint
// of tx under lock_timeout. When the timeout expires (SQLSTATE 55P03) the
// savepoint is rolled back, so that readers queued behind the request can
// go on, and fn is tried again after a pause, up to o.retries() more times.
func lockRetry(ctx context.Context, tx pgx.Tx, o LoadOptions, what string, fn func(context.Context) error) error {
	timeout := fmt.Sprintf("%dms", max(o.lockTimeout().Milliseconds(), 1))
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if _, err := tx.Exec(ctx, "SAVEPOINT pgmimeo_lock"); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		_, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", timeout)
		if err == nil {
			err = fn(ctx)
		}
		if err == nil {
			if _, err = tx.Exec(ctx, "RELEASE SAVEPOINT pgmimeo_lock"); err == nil {
				_, err = tx.Exec(ctx, "SELECT pg_catalog.set_config('lock_timeout', '0', true)")
			}
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		if !isLockTimeout(err) || attempt >= o.retries() {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT pgmimeo_lock"); rerr != nil {
			return fmt.Errorf("%s: %w", what, rerr)
		}
		if _, rerr := tx.Exec(ctx, "RELEASE SAVEPOINT pgmimeo_lock"); rerr != nil {
			return fmt.Errorf("%s: %w", what, rerr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Second)
	}
}

// lockTables takes ACCESS EXCLUSIVE locks on ts (which must exist), with
// lockRetry.
func lockTables(ctx context.Context, tx pgx.Tx, o LoadOptions, ts ...replication.Table) error {
	if len(ts) == 0 {
		return nil
	}
	names := ""
	for i, t := range ts {
		if i > 0 {
			names += ", "
		}
		names += t.Sanitize()
	}
	return lockRetry(ctx, tx, o, "lock "+names, func(ctx context.Context) error {
		_, err := tx.Exec(ctx, "LOCK TABLE "+names+" IN ACCESS EXCLUSIVE MODE")
		return err
	})
}
