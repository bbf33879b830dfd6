package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// bookkeepingTimeout bounds the statements that put a job back after its
// run, which run even when the scheduler is stopping.
const bookkeepingTimeout = 30 * time.Second

// runJob runs one claimed job, records when it is next due, tells OnRun,
// and lets the claim go. It returns c when done.
func (s *Scheduler) runJob(ctx context.Context, cs *claimSession, sources *sourcePools, c *claim) *claim {
	out := Outcome{JobID: c.id, Kind: c.kind, Dest: c.dest, Worker: s.cfg.WorkerID, Started: time.Now()}
	var ran bool
	out.Result, ran, out.Deferred, out.Err = s.refresh(ctx, sources, c)
	if out.Err != nil && ctx.Err() != nil && !out.Deferred {
		out.Abandoned = true
	}
	if out.Err != nil && !ran && !out.Abandoned && !out.Deferred {
		// The replicator never started: log the failure in its place.
		run := replication.StartJob(ctx, s.cfg.JobLog, s.cfg.Logger, replication.JobName("Scheduled Refresh", c.dest))
		run.Step(ctx, fmt.Sprintf("Opening %s job", c.kind))
		_ = run.Finish(ctx, out.Err)
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	next, err := s.putBack(bctx, c, &out)
	switch {
	case err != nil:
		s.logWarn("record next run failed", append(replication.EventAttrs(c.kind, c.dest), "job_id", c.id, "error", err)...)
	case out.Abandoned:
		s.logInfo("refresh abandoned at shutdown; the job stays due", append(replication.EventAttrs(c.kind, c.dest), "job_id", c.id)...)
	case out.Deferred:
		s.logInfo("refresh deferred: its destination's refresh lock is held elsewhere", append(replication.EventAttrs(c.kind, c.dest), "job_id", c.id, "next_run", next)...)
	case out.Err != nil:
		s.logWarn("refresh failed; backing off", append(replication.EventAttrs(c.kind, c.dest), "job_id", c.id, "error", out.Err, "next_run", next)...)
	default:
		s.logDebug("refreshed", append(replication.EventAttrs(c.kind, c.dest), "job_id", c.id, "next_run", next)...)
	}
	if s.cfg.OnRun != nil {
		s.cfg.OnRun(out)
	}
	cs.release(bctx, c)
	return c
}

// refresh opens the job with the Opener of its kind and refreshes it. ran
// is true when the replicator's Refresh was called (it logs its own job);
// deferred is true when the destination's refresh lock was held elsewhere,
// so nothing ran. A panic is returned as an error.
func (s *Scheduler) refresh(ctx context.Context, sources *sourcePools, c *claim) (res replication.Result, ran, deferred bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("refresh of %s panicked: %v", c.dest, r)
		}
	}()
	src, err := sources.get(ctx, c.sourceName)
	if err != nil {
		return res, false, false, err
	}
	rep, err := open(ctx, s.methods, c.kind, src, s.dest, c.dest, s.cfg.runtime().forJob(c))
	if err != nil {
		return res, false, false, err
	}
	// A refresh lock held now is a refresh run by hand, or that of a worker
	// whose session the server has not reaped yet: come back later rather
	// than log a skipped run.
	locked, err := replication.IsLocked(ctx, s.dest, c.dest)
	if err != nil {
		return res, false, false, fmt.Errorf("check refresh lock of %s: %w", c.dest, err)
	}
	if locked {
		return res, false, true, &replication.TableError{Table: c.dest, Err: replication.ErrLocked,
			Fix: "another session holds the table's refresh lock; the scheduler tries again after Config.Backoff"}
	}
	res, err = rep.Refresh(ctx)
	if errors.Is(err, replication.ErrLocked) {
		return res, true, true, err
	}
	return res, true, false, err
}

// putBack records when the job is next due, and, for a failure the
// replicator did not record, the failure; it returns the next run.
func (s *Scheduler) putBack(ctx context.Context, c *claim, out *Outcome) (next time.Time, err error) {
	tx, err := s.dest.Begin(ctx)
	if err != nil {
		return next, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	jobs := s.catalog.Schema()
	tbl := pgx.Identifier{jobs, "jobs"}.Sanitize()
	var set string
	var args []any
	switch {
	case out.Abandoned:
		// Due at once, whatever the cancelled run wrote to last_run.
		set = `clock_timestamp()`
	case out.Deferred:
		set, args = `clock_timestamp() + make_interval(secs => $2)`, []any{s.cfg.Backoff.Seconds()}
	case out.Err != nil:
		var failures int
		if err := tx.QueryRow(ctx, `SELECT failures FROM `+tbl+` WHERE job_id = $1 FOR NO KEY UPDATE`, c.id).Scan(&failures); err != nil {
			return next, err
		}
		if failures <= c.failures {
			if err := s.catalog.RecordFailure(ctx, tx, c.id, out.Err); err != nil {
				return next, err
			}
			failures = c.failures + 1
		}
		set, args = `clock_timestamp() + GREATEST(period, make_interval(secs => $2))`, []any{s.backoff(failures).Seconds()}
	case s.cfg.CatchUp && out.Result.More:
		set = `clock_timestamp()`
	default:
		set, args = `clock_timestamp() + period + make_interval(secs => $2)`, []any{s.jitter().Seconds()}
	}
	err = tx.QueryRow(ctx, `UPDATE `+tbl+` SET next_run = `+set+` WHERE job_id = $1 RETURNING next_run`,
		append([]any{c.id}, args...)...).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return next, nil // the job was destroyed meanwhile
	}
	if err != nil {
		return next, err
	}
	return next, tx.Commit(ctx)
}

// backoff is the delay after n failures in a row.
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func (s *Scheduler) jitter() time.Duration {
	if s.cfg.Jitter <= 0 {
		return 0
	}
	return rand.N(s.cfg.Jitter)
}
