package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// lockRetry runs fn, which takes locks on live objects, in a savepoint of
// tx under Options.DDLLockTimeout, retried on a lock timeout up to
// Options.DDLRetries more times (see sqltext.LockRetry); errors are
// prefixed by what.
func lockRetry(ctx context.Context, tx pgx.Tx, o LoadOptions, what string, fn func(context.Context) error) error {
	err := sqltext.LockRetry(ctx, tx, o.ddlTimeout, o.ddlRetries, func(pgx.Tx) error { return fn(ctx) })
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
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
