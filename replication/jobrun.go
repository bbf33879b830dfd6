package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SkipLocked is the Result.SkipReason of a run that did not happen because
// another run of the same destination held its lock. Every kind and every
// operation gives this one reason.
const SkipLocked = "another run of this destination holds its lock"

// Op is a job operation; its name is the message of the slog event that
// ends each run.
type Op string

// The operations every kind runs through Run.
const (
	OpSetup   Op = "setup"
	OpRefresh Op = "refresh"
	OpRepull  Op = "repull"
	OpRepair  Op = "repair"
	OpDestroy Op = "destroy"
)

// Run is one run of a job: the single code path every kind and every
// operation goes through. Do takes a live destination session, the
// destination's advisory lock (for OpSetup waiting as long as ctx allows,
// see AcquireSetupLock; else as Options.LockWait says), reports a busy
// lock as a skipped run (Result.Skipped, SkipReason SkipLocked, a WARNING
// job in the job log, an error wrapping ErrLocked), starts the job log
// with the session's backend pid, runs the kind's body, counts a failure
// against the job in the catalog, and emits one slog event.
//
// The failure-counting rule, the same for every kind: a failed run of a
// job that exists counts, except a skipped one (ErrLocked) and a wrong
// call (ErrBadOption, which every *OptionError wraps, ErrWrongKind,
// ErrNotManaged). A Setup counts nothing: its job does not exist yet.
type Run struct {
	// Op is the operation.
	Op Op
	// Kind is the job's kind, for the event.
	Kind Kind
	// Dest is the destination table, whose lock the run holds.
	Dest Table
	// Name is the job log's name of the run, e.g. JobName("Refresh Snap", dest).
	Name string
	// Pool is the destination database.
	Pool *pgxpool.Pool
	// Catalog counts failures; nil counts none.
	Catalog *Catalog
	// Options gives JobLog, Logger and LockWait.
	Options *Options
}

// Body is a kind's part of a run: conn is the locked destination session,
// log the run's job log.
type Body func(ctx context.Context, conn *pgxpool.Conn, log *JobRun) (Result, error)

// Do runs body as described at Run.
func (r Run) Do(ctx context.Context, body Body) (res Result, err error) {
	start := time.Now()
	o := r.Options
	if o == nil {
		o = &Options{}
	}
	ctx, span, tracer := r.startSpan(ctx, o)
	defer func() {
		res.Duration = time.Since(start)
		if !errors.Is(err, errMadeMeanwhile) {
			r.event(o.Logger, res, err)
		}
		r.measure(ctx, o, span, res, err)
	}()
	conn, err := AcquireLive(ctx, r.Pool)
	if err != nil {
		return res, fmt.Errorf("%s %s: connect to the destination: %w", r.Op, r.Dest, err)
	}
	defer conn.Release()
	var lock *Lock
	if r.Op == OpSetup {
		lock, err = AcquireSetupLock(ctx, conn, r.Dest)
	} else {
		lock, err = AcquireLock(ctx, conn, r.Dest, o.LockWait)
	}
	if errors.Is(err, ErrLocked) {
		Skipped(ctx, o.JobLog, o.Logger, r.Name, err)
		return Result{Skipped: true, SkipReason: SkipLocked}, err
	}
	if err != nil {
		return res, err
	}
	// A lost session has released the lock already; nothing to report.
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	var started time.Time // by the destination server's clock
	if r.Catalog != nil && r.Op != OpDestroy && r.Op != OpRepair {
		if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&started); err != nil {
			return res, fmt.Errorf("%s %s: read the clock: %w", r.Op, r.Dest, err)
		}
	}
	if r.Op == OpSetup {
		if err := CheckServerVersion(ctx, conn, "destination", r.Dest); err != nil {
			return res, err
		}
	}
	if r.Op == OpSetup && ensuring(ctx) {
		// A Setup called by Ensure that waited for the lock while another
		// process made the job: Ensure compares with that one. Nothing is
		// logged, so replicas that start at once leave no failed maker job.
		if _, err := NewCatalog(o.Catalog).Job(ctx, conn, r.Dest); err == nil {
			return res, &TableError{Table: r.Dest, Err: errMadeMeanwhile}
		}
	}
	log := StartJob(WithBackendPID(ctx, conn.Conn().PgConn().PID()), o.JobLog, o.Logger, r.Name)
	log.tracer, log.ctx = tracer, ctx
	res, err = body(ctx, conn, log)
	if err != nil && r.Op != OpSetup && r.Catalog != nil && countsAsFailure(err) {
		r.recordFailure(ctx, o.Logger, err)
	}
	if err == nil && !started.IsZero() {
		r.recordSuccess(ctx, conn, o, res, started)
	}
	return res, log.Finish(ctx, err)
}

// recordSuccess notes a successful run in the catalog, after the run's own
// commit: the job's last success (also of a refresh that found nothing to
// do) and, when the run caught up (a refresh or repull that did not stop at
// a batch limit, a setup that pulled), the moment before which the
// destination holds every source change. A crash before it leaves both
// older, never newer. Best effort, as recordFailure.
func (r Run) recordSuccess(ctx context.Context, conn *pgxpool.Conn, o *Options, res Result, started time.Time) {
	if r.Op == OpSetup && o.SkipPull {
		return
	}
	var synced *time.Time
	if !res.More && !res.Unsynced {
		t := started.Add(-res.SyncLag)
		synced = &t
	}
	err := r.Catalog.recordSuccess(context.WithoutCancel(ctx), conn, r.Dest, synced, res.SyncLag)
	if err != nil && o.Logger != nil {
		o.Logger.Warn("record success in catalog", append(EventAttrs(r.Kind, r.Dest), "error", err)...)
	}
}

// countsAsFailure is the failure-counting rule (see Run).
func countsAsFailure(err error) bool {
	for _, e := range []error{ErrLocked, ErrBadOption, ErrWrongKind, ErrNotManaged} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// recordFailure counts err against the job of r.Dest, on a session of its
// own (the run's may be gone). Best effort: the run's error is what the
// caller gets; a failure to count it is logged.
func (r Run) recordFailure(ctx context.Context, logger *slog.Logger, runErr error) {
	ctx = context.WithoutCancel(ctx)
	job, err := r.Catalog.Job(ctx, r.Pool, r.Dest)
	if err == nil {
		err = r.Catalog.RecordFailure(ctx, r.Pool, job.ID, runErr)
	}
	if err != nil && !errors.Is(err, ErrNotManaged) && logger != nil {
		logger.Warn("record failure in catalog", append(EventAttrs(r.Kind, r.Dest), "error", err)...)
	}
}

// EventAttrs are the attributes every log event of pgmimeo about a job
// starts with, whatever its kind: "kind", "dest_schema" and "dest_table"
// (unquoted). Events add "rows", "bytes", "duration", "skipped" and "error"
// under those names.
func EventAttrs(kind Kind, dest Table) []any {
	return []any{"kind", string(kind), "dest_schema", dest.Schema, "dest_table", dest.Name}
}

// event logs the end of a run: one message per operation, the same keys for
// every kind; a skipped run or one that changed nothing at DEBUG.
func (r Run) event(logger *slog.Logger, res Result, err error) {
	if logger == nil {
		return
	}
	attrs := append(EventAttrs(r.Kind, r.Dest),
		"rows", res.Inserted+res.Updated+res.Deleted, "bytes", res.Bytes, "duration", res.Duration, "skipped", res.Skipped)
	switch {
	case res.Skipped:
		logger.Debug(string(r.Op), append(attrs, "reason", res.SkipReason)...)
	case err != nil:
		logger.Error(string(r.Op), append(attrs, "error", err)...)
	case res.Inserted+res.Updated+res.Deleted == 0 && r.Op == OpRefresh:
		logger.Debug(string(r.Op), attrs...)
	default:
		logger.Info(string(r.Op), attrs...)
	}
}

// AcquireLive takes a live session from pool. A pooled session whose
// backend was terminated (a server restart, pg_terminate_backend) is found
// dead only when used: each is pinged first and, when dead, dropped and
// another one taken.
func AcquireLive(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	var err error
	for i := 0; i <= int(pool.Config().MaxConns); i++ {
		var c *pgxpool.Conn
		if c, err = pool.Acquire(ctx); err != nil {
			return nil, err
		}
		if err = c.Ping(ctx); err == nil {
			return c, nil
		}
		c.Release() // closed by the failed ping: the pool destroys it
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("no live connection: %w", err)
}
