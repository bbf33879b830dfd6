package dml

import (
	"context"
	"fmt"

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
