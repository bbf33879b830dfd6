package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// refreshJob is what both Refreshes share: one run of the job (see
// endpoints.run) called name, which checks that the catalog holds a job of
// kind for this source and runs refresh on the locked connection.
func (e *endpoints) refreshJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	refresh func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, run *replication.JobRun) (replication.Result, error)) (replication.Result, error) {
	return e.run(ctx, replication.OpRefresh, kind, replication.JobName(name, e.dst), opts,
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error) {
			job, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind)
			if err != nil {
				return replication.Result{}, err
			}
			return refresh(ctx, conn, job, run)
		})
}

// destroyJob is what both Destroys share: one run of the job called name
// which checks that the catalog holds a job of kind for this source and
// then, in one destination transaction, lets drop remove what the job made
// and deletes the job's catalog row. Nothing changes when drop fails.
func (e *endpoints) destroyJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	drop func(ctx context.Context, run *replication.JobRun, tx pgx.Tx) error) error {
	_, err := e.run(ctx, replication.OpDestroy, kind, replication.JobName(name, e.dst), opts,
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (res replication.Result, err error) {
			if _, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind); err != nil {
				return res, err
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				return res, fmt.Errorf("begin destination transaction: %w", err)
			}
			defer func() {
				if err != nil {
					_ = tx.Rollback(context.WithoutCancel(ctx))
				}
			}()
			if err := drop(ctx, run, tx); err != nil {
				return res, err
			}
			if err := e.catalog.DeleteJob(ctx, tx, e.dst); err != nil {
				return res, err
			}
			if err := tx.Commit(ctx); err != nil {
				return res, fmt.Errorf("commit destroy of %s: %w", e.dst, err)
			}
			run.Done(ctx, "Done")
			return res, nil
		})
	return err
}
