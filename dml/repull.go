package dml

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Repull replaces the destination's rows with every source row (for
// logdel: keeps the rows marked deleted), under the refresh lock. The queue
// stays consistent: the trigger functions are switched to the other queue
// table, the table they left is closed, and since the full copy is read after that, the
// closed table's entries are marked applied in the same destination
// transaction and truncated after it commits; changes made since the switch
// stay queued for the next refresh.
func (r *Replicator) Repull(ctx context.Context) (replication.Result, error) {
	return r.lockedOn(ctx, replication.OpRepull, r.jobName("Refresh "+r.variant.Label()), func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, res *replication.Result) error {
		j, err := r.open(ctx)
		if err != nil {
			return err
		}
		if j.cfg.Capture == CaptureLogical {
			return r.spoolLocked(ctx, conn, func() error { return r.repullFromStream(ctx, conn, run, j, res) })
		}
		return r.repull(ctx, run, j, res)
	})
}

func (r *Replicator) repull(ctx context.Context, run *replication.JobRun, j *job, res *replication.Result) error {
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return fmt.Errorf("connect to source: %w", err)
	}
	defer src.Release()
	q := j.queue
	if err := r.finishDrained(ctx, run, j, src); err != nil {
		return err
	}
	run.Step(ctx, "Request to repull ALL data from source")
	if j.state.Queue.Closed == nil {
		cur, err := q.filling(ctx, src)
		if err != nil {
			return err
		}
		empty, err := q.isEmpty(ctx, src, 1-cur)
		if err != nil {
			return err
		}
		if empty {
			if err := q.switchTo(ctx, src, j.spec, 1-cur); err != nil {
				return err
			}
			j.state.Queue = queueState{Closed: intp(cur)}
		} else {
			j.state.Queue = queueState{Closed: intp(1 - cur)}
		}
	}
	closed := *j.state.Queue.Closed
	if err := q.closeTable(ctx, src, &r.cfg, closed); err != nil {
		return err
	}
	run.Step(ctx, "Pulling all rows from source")
	var counts keyapply.Counts
	var bytes int64
	destPID, err := r.inBatch(ctx, j.spec, func(b *keyapply.Batch) error {
		tx := b.Tx()
		if r.variant.KeepsDeleted() {
			pos, err := parseTID(j.state.Queue.Pos)
			if err != nil {
				return err
			}
			c, err := q.nextClaim(ctx, src, closed, pos, 0)
			if err == nil {
				if _, err := b.CopyQuery(ctx, src.Conn().PgConn(), imagesQuery(q, j.spec, c), j.spec.BinaryRows()); err != nil {
					return fmt.Errorf("fetch deleted rows of %s: %w", j.spec.Source, err)
				}
			} else if !errors.Is(err, errNoEntries) {
				return err
			}
		}
		var err error
		if counts, err = r.variant.Reload(ctx, b, fullLoad(src.Conn().PgConn(), tx, j.spec, &bytes)); err != nil {
			return fmt.Errorf("repull %s: %w", j.spec.Dest, err)
		}
		next := jobState{Queue: queueState{Closed: intp(closed), Done: true}}
		if err := r.catalog.SaveState(ctx, tx, j.row.ID, next); err != nil {
			return err
		}
		j.state = next
		return nil
	})
	if err != nil {
		return err
	}
	if err := runHook(ctx, r.hooks.afterCommit, phase{SourcePID: src.Conn().PgConn().PID(), DestPID: destPID}); err != nil {
		return err
	}
	run.Done(ctx, "Pulled %d rows", counts.Inserted)
	res.Inserted, res.Updated, res.Deleted, res.Bytes = counts.Inserted, counts.Updated, counts.Deleted, bytes
	return r.finishDrained(ctx, run, j, src)
}

// fullLoad returns the load function of a Variant's Reload: it copies every
// row the spec selects from the source into the destination table in tx,
// adding the bytes moved to *bytes.
func fullLoad(src *pgconn.PgConn, tx pgx.Tx, spec *keyapply.TableSpec, bytes *int64) func(ctx context.Context, freeze bool) (int64, error) {
	return func(ctx context.Context, freeze bool) (int64, error) {
		st, err := copypipe.Copy(ctx, src, tx.Conn().PgConn(), copypipe.Spec{
			Query: fullQuery(spec), Dest: spec.Dest.Sanitize(), Columns: spec.ColumnNames(),
			Binary: spec.BinaryRows(), Freeze: freeze,
		})
		*bytes += st.Bytes
		if err != nil {
			return st.Rows, fmt.Errorf("pull %s: %w", spec.Source, err)
		}
		return st.Rows, nil
	}
}
