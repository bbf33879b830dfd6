package incremental

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// destroy removes the job from the catalog and drops the destination table
// unless it is to be kept, in one destination transaction, under the
// table's lock.
func (j *job) destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	_, err := j.lockedRun(ctx, replication.OpDestroy, replication.JobName(j.noun()+" Destroyer", j.dst),
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error) {
			var res replication.Result
			if _, err := j.load(ctx, conn); err != nil {
				return res, err
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				return res, fmt.Errorf("begin destination transaction: %w", err)
			}
			defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
			run.Step(ctx, "Removing configuration data")
			if err := j.catalog.DeleteJob(ctx, tx, j.dst); err != nil {
				return res, err
			}
			if opts.Keep() {
				run.Step(ctx, "Keeping destination table "+j.dst.String())
			} else {
				run.Step(ctx, "Dropping destination table "+j.dst.String())
				if err := j.lockedDDL(ctx, tx, "DROP TABLE "+j.dst.Sanitize()); err != nil {
					return res, fmt.Errorf("drop %s: %w", j.dst, err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				return res, fmt.Errorf("commit destroy of %s: %w", j.dst, err)
			}
			return res, nil
		})
	return err
}
