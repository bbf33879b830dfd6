package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// acquire takes a live connection from pool. A pooled connection whose
// backend was terminated (a server restart, pg_terminate_backend) is only
// found dead when used: it is pinged first and, when dead, dropped and
// another one taken.
func acquire(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	var err error
	for i := 0; i <= int(pool.Config().MaxConns); i++ {
		var c *pgxpool.Conn
		if c, err = pool.Acquire(ctx); err != nil {
			return nil, err
		}
		if err = c.Ping(ctx); err == nil {
			return c, nil
		}
		c.Release() // closed by the failed ping: the pool destroys it
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("no live connection: %w", err)
}

// inBatch runs fn in a new transaction of a destination session with a
// batch staged for spec, and commits when fn succeeds (rolls back when it
// fails). It returns the session's backend pid, for the crash hooks.
func (r *Replicator) inBatch(ctx context.Context, spec *TableSpec, fn func(b *Batch) error) (uint32, error) {
	conn, err := acquire(ctx, r.dest)
	if err != nil {
		return 0, fmt.Errorf("connect to destination: %w", err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	return pid, inTx(ctx, conn, func(tx pgx.Tx) error {
		b, err := StageBatch(ctx, tx, spec, r.variant)
		if err != nil {
			return err
		}
		return fn(b)
	})
}
