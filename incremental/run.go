package incremental

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// lockedRun runs body under the destination table's advisory lock, logged
// as one job named name. A busy lock skips the run: the result says so, the
// job log gets a WARNING job, and the error wraps replication.ErrLocked.
func (j *job) lockedRun(ctx context.Context, name string,
	body func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error)) (replication.Result, error) {
	started := time.Now()
	conn, err := j.dest.Acquire(ctx)
	if err != nil {
		return replication.Result{}, fmt.Errorf("connect to destination: %w", err)
	}
	defer conn.Release()
	lock, err := replication.AcquireLock(ctx, conn, j.dst, j.cfg.LockWait)
	if errors.Is(err, replication.ErrLocked) {
		replication.Skipped(ctx, j.cfg.JobLog, j.cfg.Logger, name, err)
		return replication.Result{Skipped: true, SkipReason: "another refresh of the table holds its lock",
			Duration: time.Since(started)}, err
	}
	if err != nil {
		return replication.Result{}, err
	}
	// A lost session has released the lock already; nothing to report.
	defer func() { _ = lock.Release(ctx) }()
	run := replication.StartJob(replication.WithBackendPID(ctx, conn.Conn().PgConn().PID()), j.cfg.JobLog, j.cfg.Logger, name)
	res, err := body(ctx, conn, run)
	res.Duration = time.Since(started)
	if err != nil && !callerError(err) {
		j.recordFailure(ctx, err)
	}
	if j.cfg.Logger != nil {
		if err != nil {
			j.cfg.Logger.Error(name, "err", err)
		} else {
			j.cfg.Logger.Info(name, "result", res.String())
		}
	}
	return res, run.Finish(ctx, err)
}

// callerError reports whether err is about how the job was called (wrong
// replicator, options that differ from the setup, no such job) rather than
// a failure of the job, which the catalog should not count against it.
func callerError(err error) bool {
	var oe *replication.OptionError
	return errors.As(err, &oe) || errors.Is(err, replication.ErrWrongKind) || errors.Is(err, replication.ErrNotManaged)
}

// recordFailure notes a failed run in the catalog, on a connection of its
// own (the run's may be gone). It is best effort: the run's error is what
// the caller gets.
func (j *job) recordFailure(ctx context.Context, runErr error) {
	ctx = context.WithoutCancel(ctx)
	jb, err := j.catalog.Job(ctx, j.dest, j.dst)
	if err == nil {
		err = j.catalog.RecordFailure(ctx, j.dest, jb.ID, runErr)
	}
	if err != nil && !errors.Is(err, replication.ErrNotManaged) && j.cfg.Logger != nil {
		j.cfg.Logger.Warn("record failure in catalog", "table", j.dst.String(), "err", err)
	}
}

// loaded is the catalog row of a job, decoded.
type loaded struct {
	job   *replication.Job
	def   definition
	state state
}

// load reads the job of the destination table and checks that it is one of
// this kind, and (for a Config given to New) that its identity matches.
func (j *job) load(ctx context.Context, db replication.DB) (*loaded, error) {
	jb, err := j.catalog.Job(ctx, db, j.dst)
	if err != nil {
		return nil, err
	}
	l := &loaded{job: jb}
	if err := json.Unmarshal(jb.Config, &l.def); err != nil {
		return nil, fmt.Errorf("decode job config of %s: %w", j.dst, err)
	}
	if jb.Kind != j.kind(l.def.Type) || l.def.Updater != j.updater {
		return nil, &replication.TableError{Table: j.dst, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("the job is of kind %s: use the matching replicator", jb.Kind)}
	}
	if jb.SourceTable != j.src {
		return nil, &replication.TableError{Table: j.dst, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("the job replicates from %s, not %s", jb.SourceTable, j.src)}
	}
	if j.given {
		if err := identityMismatch(&j.cfg, &l.def); err != nil {
			return nil, err
		}
	}
	if l.state, err = decodeState(jb.State); err != nil {
		return nil, err
	}
	return l, nil
}
