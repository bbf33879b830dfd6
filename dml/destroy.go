package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Destroy removes the job: the trigger, function and queue tables on the
// source (or a *replication.TableError wrapping ErrPrivilege that says
// what the source role lacks, leaving the job in place), then the catalog
// entry and, unless opts.KeepTable, the destination table. Other
// destinations of the same source table are untouched.
func (r *Replicator) Destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	_, err := r.lockedOn(ctx, replication.OpDestroy, r.jobName(r.variant.Label()+" Destroyer"), func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, _ *replication.Result) error {
		dest := r.Dest()
		row, err := r.catalog.Job(ctx, r.dest, dest)
		if err != nil {
			return err
		}
		if row.Kind != r.variant.Kind() {
			return &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
				Fix: fmt.Sprintf("the job is of kind %q; use that kind's package", row.Kind)}
		}
		cfg, _, err := decodeJob(row)
		if err != nil {
			return err
		}
		if cfg.Capture == CaptureLogical {
			// A spool read in flight ends first (it would make the spool
			// again).
			l := r.spoolLock()
			if err := l.wait(ctx, conn); err != nil {
				return err
			}
			defer l.unlock(ctx, conn)
			run.Step(ctx, "Removing replication slot and publication on source")
			if err := r.destroyLogical(ctx, cfg); err != nil {
				return err
			}
		} else if err := r.dropTriggerQueue(ctx, run, row, cfg); err != nil {
			return err
		}
		run.Step(ctx, "Removing job and destination table")
		return durable.InTx(ctx, r.dest, func(tx pgx.Tx) error {
			if err := r.catalog.DeleteJob(ctx, tx, dest); err != nil {
				return err
			}
			if cfg.Capture == CaptureLogical {
				if err := r.dropSpool(ctx, tx, row.ID); err != nil {
					return err
				}
			}
			if !opts.Keep() {
				if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+dest.Sanitize()); err != nil {
					return fmt.Errorf("drop %s: %w", dest, err)
				}
			}
			return nil
		})
	})
	return err
}

// dropTriggerQueue removes the trigger capture's objects on the source.
func (r *Replicator) dropTriggerQueue(ctx context.Context, run *replication.JobRun, row *replication.Job, cfg jobConfig) error {
	run.Step(ctx, "Removing trigger, function and queue tables on source")
	q := &queue{Schema: cfg.QueueSchema, ID: cfg.QueueID, Source: row.SourceTable, KeepsDeleted: r.variant.KeepsDeleted()}
	return dropQueue(ctx, r.source, &r.cfg, q)
}
