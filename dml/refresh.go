package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Refresh applies the queued changes, under the destination table's
// advisory lock:
//
//  1. If a queue table was drained by an earlier refresh but not yet
//     truncated, it is truncated.
//  2. The trigger functions are switched to the other queue table, and the
//     one they left is closed: the refresh waits until no writer can still
//     add to it.
//  3. Its entries are claimed in arrival order, chunk by chunk: the
//     distinct keys and the current source rows of those keys are fetched
//     with COPY into temporary tables of a destination transaction, which
//     deletes the keys that have no row, merges the rows, and saves the
//     queue position in the catalog before committing.
//  4. Only when every entry is applied and committed is the queue table
//     truncated on the source.
//
// A change made while the refresh runs goes to the other queue table and
// waits for the next refresh. With a batch limit (Options.BatchLimit) at
// most that many queue entries are applied and Result.More says whether
// some are left. A refresh whose connection dies at any point leaves the
// position of the last committed chunk; the next one goes on from there,
// and replaying a key twice does no harm.
func (r *Replicator) Refresh(ctx context.Context) (replication.Result, error) {
	return r.lockedOn(ctx, replication.OpRefresh, r.jobName("Refresh "+r.variant.Label()), func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, res *replication.Result) error {
		r.debug("refresh locked")
		j, err := r.open(ctx)
		if err != nil {
			return err
		}
		r.debug("refresh opened")
		if j.cfg.Capture == CaptureLogical {
			return r.refreshLogical(ctx, conn, run, j, res)
		}
		if j.state.NeedsPull {
			return r.repull(ctx, run, j, res)
		}
		return r.refresh(ctx, run, j, res)
	})
}

func (r *Replicator) batchLimit(j *job) int64 {
	if r.cfg.BatchLimit > 0 {
		return int64(r.cfg.BatchLimit)
	}
	return int64(j.cfg.BatchLimit)
}

func (r *Replicator) refresh(ctx context.Context, run *replication.JobRun, j *job, res *replication.Result) error {
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return fmt.Errorf("connect to source: %w", err)
	}
	defer src.Release()
	q := j.queue
	limit := r.batchLimit(j)
	budget := limit
	var ds drainStats
	switched := false
	for {
		if err := r.finishDrained(ctx, run, j, src); err != nil {
			return err
		}
		if j.state.Queue.Closed == nil {
			run.Step(ctx, "Switching queue tables")
			cur, err := q.filling(ctx, src)
			if err != nil {
				return err
			}
			other := 1 - cur
			leftover, err := q.isEmpty(ctx, src, other)
			if err != nil {
				return err
			}
			switch {
			case !leftover:
				// An interrupted refresh switched tables before it could
				// record the one it closed.
				j.state.Queue = queueState{Closed: intp(other)}
			case switched:
				// One switch per refresh: later changes wait for the next.
				return r.finish(ctx, run, res, ds, limit)
			default:
				empty, err := q.isEmpty(ctx, src, cur)
				if err != nil {
					return err
				}
				if empty {
					return r.finish(ctx, run, res, ds, limit)
				}
				if err := q.switchTo(ctx, src, j.spec, other); err != nil {
					return err
				}
				switched = true
				j.state.Queue = queueState{Closed: intp(cur)}
			}
		}
		closed := *j.state.Queue.Closed
		run.Step(ctx, fmt.Sprintf("Closing queue table %s", q.Table(closed)))
		if err := q.closeTable(ctx, src, &r.cfg, closed); err != nil {
			return err
		}
		run.Step(ctx, "Fetching and applying queued changes")
		r.debug("draining queue table", "queue_table", closed)
		if err := r.drain(ctx, j, src, closed, &budget, &ds); err != nil {
			return err
		}
		r.debug("drained queue table", "queue_table", closed, "done", j.state.Queue.Done)
		run.Done(ctx, "Applied %d queue entries (%d keys) in %d chunks: %d inserted, %d updated, %d deleted",
			ds.entries, ds.keys, ds.chunks, ds.Inserted, ds.Updated, ds.Deleted)
		if !j.state.Queue.Done {
			res.More = true
			return r.finish(ctx, run, res, ds, limit)
		}
		if limit > 0 && budget <= 0 {
			// The budget is spent: truncate, and leave the rest queued.
			if err := r.finishDrained(ctx, run, j, src); err != nil {
				return err
			}
			empty, err := q.isEmpty(ctx, src, 1-closed)
			if err != nil {
				return err
			}
			res.More = !empty
			return r.finish(ctx, run, res, ds, limit)
		}
	}
}

// finishDrained truncates a queue table whose entries are all applied and
// records that it is.
func (r *Replicator) finishDrained(ctx context.Context, run *replication.JobRun, j *job, src *pgxpool.Conn) error {
	if j.state.Queue.Closed == nil || !j.state.Queue.Done {
		return nil
	}
	run.Step(ctx, "Cleaning out drained queue table")
	if err := j.queue.truncate(ctx, src, &r.cfg, *j.state.Queue.Closed); err != nil {
		return err
	}
	j.state.Queue = queueState{}
	err := r.saveState(ctx, j)
	r.debug("truncated queue table")
	return err
}

// finish fills in the result.
func (r *Replicator) finish(ctx context.Context, run *replication.JobRun, res *replication.Result, ds drainStats, limit int64) error {
	res.Inserted, res.Updated, res.Deleted = ds.Inserted, ds.Updated, ds.Deleted
	res.Bytes = ds.bytes
	if ds.entries == 0 {
		res.Skipped, res.SkipReason = true, "no changes queued"
	}
	if limit > 0 && float64(ds.entries) > 0.75*float64(limit) {
		w := fmt.Sprintf("queue entries applied (%d) exceed 75%% of the batch limit (%d): consider raising the batch limit", ds.entries, limit)
		res.Warnings = append(res.Warnings, w)
		run.Warn(ctx, w)
	}
	return nil
}
