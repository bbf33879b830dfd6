package sqltext

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Probe runs a statement that carries user-supplied text through the
// extended protocol, which accepts one statement only, whatever query
// mode the caller's pool uses by default (pgx sends an Exec without
// arguments, and every statement of a pool in simple-protocol mode, as a
// simple query, where a ';' starts a second statement). Its rows, if any,
// are read and dropped; use it for checks such as "SELECT … LIMIT 0".
func Probe(ctx context.Context, q Querier, sql string, args ...any) error {
	rows, err := q.Query(ctx, sql, append([]any{pgx.QueryExecModeDescribeExec}, args...)...)
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}
