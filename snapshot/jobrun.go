package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// refreshJob is what both Refreshes share: under the destination's lock
// (a run that finds it taken is skipped, see lockDest) it logs a job called
// name, checks that the catalog holds a job of kind for this source, and
// runs refresh on the locked connection. A failed refresh is counted in the
// catalog.
func (e *endpoints) refreshJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	refresh func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, run *replication.JobRun) (replication.Result, error)) (res replication.Result, err error) {
	start := time.Now()
	name = replication.JobName(name, e.dst)
	conn, release, err := lockDest(ctx, e.dest, e.dst, opts, name)
	if errors.Is(err, replication.ErrLocked) {
		return skippedLocked(start), err
	}
	if err != nil {
		return res, err
	}
	defer release()

	run := replication.StartJob(replication.WithBackendPID(ctx, conn.Conn().PgConn().PID()), opts.JobLog, opts.Logger, name)
	job, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind)
	if err != nil {
		return res, run.Finish(ctx, err)
	}
	res, err = refresh(ctx, conn, job, run)
	res.Duration = time.Since(start)
	if err != nil {
		recordFailure(ctx, e.catalog, e.dest, job.ID, err, opts.Logger)
		return res, run.Finish(ctx, err)
	}
	if opts.Logger != nil {
		if res.Skipped {
			opts.Logger.Info("refresh skipped", "dest", e.dst.String(), "reason", res.SkipReason)
		} else {
			opts.Logger.Info("refreshed", "dest", e.dst.String(), "rows", res.Inserted, "bytes", res.Bytes, "duration", res.Duration)
		}
	}
	return res, run.Finish(ctx, nil)
}

// destroyJob is what both Destroys share: it logs a job called name, takes
// the destination's lock, checks that the catalog holds a job of kind for
// this source, and then, in one destination transaction, lets drop remove
// what the job made and deletes the job's catalog row. Nothing changes
// when drop fails.
func (e *endpoints) destroyJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	drop func(ctx context.Context, run *replication.JobRun, tx pgx.Tx) error) (err error) {
	run := replication.StartJob(ctx, opts.JobLog, opts.Logger, replication.JobName(name, e.dst))
	defer func() { err = run.Finish(ctx, err) }()
	conn, release, err := lockDest(ctx, e.dest, e.dst, opts, "")
	if err != nil {
		return err
	}
	defer release()
	if _, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind); err != nil {
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
	if err := drop(ctx, run, tx); err != nil {
		return err
	}
	if err := e.catalog.DeleteJob(ctx, tx, e.dst); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit destroy of %s: %w", e.dst, err)
	}
	run.Done(ctx, "Done")
	return nil
}
