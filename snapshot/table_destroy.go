package snapshot

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Destroy removes the job under the destination's lock: the catalog row,
// and the destination table unless opts.KeepTable.
func (t *Table) Destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	return t.destroyJob(ctx, &t.cfg.Options, "Table Destroyer", replication.KindTableReload, func(ctx context.Context, run *replication.JobRun, tx pgx.Tx) error {
		if opts.Keep() {
			run.Step(ctx, "Keeping table "+t.dst.String())
			return nil
		}
		run.Step(ctx, "Dropping table "+t.dst.String())
		return lockRetry(ctx, tx, t.cfg.LoadOptions, "drop "+t.dst.String(), func(ctx context.Context) error {
			_, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+t.dst.Sanitize())
			return err
		})
	})
}
