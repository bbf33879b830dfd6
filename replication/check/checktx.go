package check

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/replication"
)

// checkSettings make the text form of every value the same on every server
// and session, so that rows read on the source and on the destination can be
// compared as text, and keep the planner from spending on JIT compilation
// and sorts for the short aggregate queries of a check. They are set with
// is_local, so they end with the check's transaction.
const checkSettings = `SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
	set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true),
	set_config('bytea_output', 'hex', true), set_config('lc_monetary', 'C', true),
	set_config('jit', 'off', true), set_config('enable_sort', 'off', true)`

// beginCheck opens the transaction a check reads one side in: REPEATABLE
// READ and READ ONLY, so every query of the check sees one snapshot, unless
// db is already a transaction (then the check runs in a savepoint of it and
// sees the caller's snapshot).
func beginCheck(ctx context.Context, db replication.DB) (pgx.Tx, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, inTx := db.(pgx.Tx); !inTx {
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, checkSettings); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("set check settings: %w", err)
	}
	return tx, nil
}

// endCheck ends a check transaction; it only read, so it is rolled back.
func endCheck(ctx context.Context, tx pgx.Tx) {
	_ = tx.Rollback(context.WithoutCancel(ctx))
}
