package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/replication"
)

// inBatch runs fn in a new transaction of a destination session with a
// batch staged for spec, and commits when fn succeeds (rolls back when it
// fails). It returns the session's backend pid, for the crash hooks.
func (r *Replicator) inBatch(ctx context.Context, spec *keyapply.TableSpec, fn func(b *keyapply.Batch) error) (uint32, error) {
	conn, err := replication.AcquireLive(ctx, r.dest)
	if err != nil {
		return 0, fmt.Errorf("connect to destination: %w", err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	return pid, inTx(ctx, conn, func(tx pgx.Tx) error {
		b, err := keyapply.StageBatch(ctx, tx, spec, r.variant)
		if err != nil {
			return err
		}
		return fn(b)
	})
}
