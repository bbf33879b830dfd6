package jobmon

import (
	"context"
	"errors"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connGone reports whether err says that the pool's connection had been
// closed or terminated by the server before the statement could take
// effect, so that running it again on another connection is safe.
func connGone(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Severity == "FATAL" || pe.SeverityUnlocalized == "FATAL") &&
		(pe.Code == pgerrcode.AdminShutdown || pe.Code == pgerrcode.CrashShutdown)
}

// retry runs fn and runs it again as long as it fails because the pool
// handed it a connection that the server had closed (for example with
// pg_terminate_backend): at most once more per connection of the pool,
// each broken connection being dropped by the pool.
func (l *Logger) retry(ctx context.Context, fn func() error) error {
	err := fn()
	for i := int32(0); err != nil && connGone(err) && ctx.Err() == nil && i < l.pool.Stat().MaxConns(); i++ {
		err = fn()
	}
	return err
}

// exec runs one statement on the pool (see retry).
func (l *Logger) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := l.retry(ctx, func() error {
		var err error
		tag, err = l.pool.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// queryRow runs a one-row query on the pool into dest (see retry).
func (l *Logger) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	return l.retry(ctx, func() error { return l.pool.QueryRow(ctx, sql, args...).Scan(dest...) })
}

// collect runs a query on l's pool and scans every row with scan (see retry).
func collect[T any](ctx context.Context, l *Logger, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	err := l.retry(ctx, func() error {
		rows, err := l.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	return out, err
}
