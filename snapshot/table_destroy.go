package snapshot

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Destroy removes the job under the destination's lock: the catalog row,
// and the destination table unless opts.KeepTable.
func (t *Table) Destroy(ctx context.Context, opts *replication.DestroyOptions) (err error) {
	run := replication.StartJob(ctx, t.cfg.JobLog, t.cfg.Logger, replication.JobName("Table Destroyer", t.dst))
	defer func() { err = run.Finish(ctx, err) }()
	conn, release, err := lockDest(ctx, t.dest, t.dst, &t.cfg.Options, "")
	if err != nil {
		return err
	}
	defer release()
	if _, err := jobOf(ctx, t.catalog, conn, t.dst, t.src, replication.KindTableReload); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin destination transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if opts.Keep() {
		run.Step(ctx, "Keeping table "+t.dst.String())
	} else {
		run.Step(ctx, "Dropping table "+t.dst.String())
		err := lockRetry(ctx, tx, t.cfg.LoadOptions, "drop "+t.dst.String(), func(ctx context.Context) error {
			_, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+t.dst.Sanitize())
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := t.catalog.DeleteJob(ctx, tx, t.dst); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit destroy of %s: %w", t.dst, err)
	}
	run.Done(ctx, "Done")
	return nil
}
