package replication

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgmimeo/pgmimeo/internal/jobctx"
)

// Alert levels of a job, as pg_jobmon numbers them.
const (
	LevelOK       = 1
	LevelWarning  = 2
	LevelCritical = 3
)

// Step statuses, as pg_jobmon writes them.
const (
	StatusOK       = "OK"
	StatusWarning  = "WARNING"
	StatusCritical = "CRITICAL"
)

// JobLog is the job log that replicators write to: pg_jobmon's add_job,
// add_step, update_step, close_job and fail_job. jobmon.Logger implements it;
// callers may plug in their own. Writes must not go through the caller's
// transaction, so that they survive its rollback.
type JobLog interface {
	// AddJob starts a job and returns its id.
	AddJob(ctx context.Context, name string) (int64, error)
	// AddStep starts a step of a job and returns its id.
	AddStep(ctx context.Context, jobID int64, action string) (int64, error)
	// UpdateStep ends a step with a status (OK, WARNING, CRITICAL) and a message.
	UpdateStep(ctx context.Context, stepID int64, status, message string) error
	// CloseJob ends a job as OK.
	CloseJob(ctx context.Context, jobID int64) error
	// FailJob ends a job at a level (2 WARNING, 3 CRITICAL).
	FailJob(ctx context.Context, jobID int64, level int) error
}

// WithBackendPID returns ctx telling the JobLog which destination backend
// does the job's work (conn.PgConn().PID()), so that jobmon can show the job
// running, see it blocked, and cancel it. Replicators set it on the context
// they start a job with.
func WithBackendPID(ctx context.Context, pid uint32) context.Context {
	return jobctx.WithPID(ctx, pid)
}

// JobName makes a job name like mimeo's, e.g. "Refresh Snap: public.orders".
func JobName(action string, t Table) string { return action + ": " + t.Schema + "." + t.Name }

// JobRun is one logged job: a no-op when the JobLog is nil. Logging failures
// never fail the replication; they are reported to the logger.
type JobRun struct {
	log    JobLog
	logger *slog.Logger
	id     int64
	step   int64
	name   string
	warned bool
	done   bool

	// tracer and ctx make a child span of the run's span per step.
	tracer trace.Tracer
	ctx    context.Context
	span   trace.Span
}

// startSpan ends the open step's span and starts one for action.
func (r *JobRun) startSpan(action string) {
	r.endSpan(StatusOK, "")
	if r.tracer != nil {
		_, r.span = r.tracer.Start(r.ctx, action)
	}
}

// endSpan ends the open step's span with its outcome.
func (r *JobRun) endSpan(status, msg string) {
	if r.span == nil {
		return
	}
	if msg != "" {
		r.span.SetAttributes(attribute.String("pgmimeo.step.message", msg))
	}
	if status == StatusCritical {
		r.span.SetStatus(codes.Error, msg)
	}
	r.span.End()
	r.span = nil
}

// StartJob starts a job run named name on log (which may be nil).
func StartJob(ctx context.Context, log JobLog, logger *slog.Logger, name string) *JobRun {
	r := &JobRun{log: log, logger: logger, name: name}
	if log == nil {
		return r
	}
	id, err := log.AddJob(context.WithoutCancel(ctx), name)
	if err != nil {
		r.report("add job", err)
		r.log = nil
		return r
	}
	r.id = id
	return r
}

// ID returns the job id, 0 when not logging.
func (r *JobRun) ID() int64 { return r.id }

// report tells of a job log write that failed. It is never silent: without
// a configured logger it goes to slog's default logger, since a lost job
// log entry hides a run from the DBA's checks.
func (r *JobRun) report(what string, err error) {
	logger := r.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("job log write failed", "job", r.name, "op", what, "error", err)
}

// Step ends the open step (OK) and opens a new one.
func (r *JobRun) Step(ctx context.Context, action string) {
	r.startSpan(action)
	if r.log == nil {
		return
	}
	r.endStep(ctx, StatusOK, "")
	id, err := r.log.AddStep(context.WithoutCancel(ctx), r.id, action)
	if err != nil {
		r.report("add step", err)
		return
	}
	r.step = id
}

// Done ends the open step as OK with a message.
func (r *JobRun) Done(ctx context.Context, format string, args ...any) {
	r.endStep(ctx, StatusOK, fmt.Sprintf(format, args...))
}

func (r *JobRun) endStep(ctx context.Context, status, msg string) {
	r.endSpan(status, msg)
	if r.log == nil || r.step == 0 {
		return
	}
	if msg == "" {
		msg = "Done"
	}
	if err := r.log.UpdateStep(context.WithoutCancel(ctx), r.step, status, msg); err != nil {
		r.report("update step", err)
	}
	r.step = 0
}

// Warn records a warning step; the job ends as WARNING.
func (r *JobRun) Warn(ctx context.Context, msg string) {
	if r.logger != nil {
		r.logger.Warn(msg, "job", r.name)
	}
	if r.log == nil {
		return
	}
	r.endStep(ctx, StatusOK, "")
	id, err := r.log.AddStep(context.WithoutCancel(ctx), r.id, "WARNING")
	if err == nil {
		err = r.log.UpdateStep(context.WithoutCancel(ctx), id, StatusWarning, msg)
	}
	if err != nil {
		r.report("warning step", err)
	}
	r.warned = true
}

// Finish ends the job: CRITICAL with the error's text in the open step when
// err is not nil, WARNING when a warning was logged, else OK. It returns err.
func (r *JobRun) Finish(ctx context.Context, err error) error {
	if err != nil {
		r.endSpan(StatusCritical, "ERROR: "+err.Error())
	} else {
		r.endSpan(StatusOK, "")
	}
	if r.log == nil || r.done {
		return err
	}
	r.done = true
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		msg := "ERROR: " + err.Error()
		if r.step != 0 {
			r.endStep(ctx, StatusCritical, msg)
		} else if id, aerr := r.log.AddStep(ctx, r.id, "ERROR"); aerr != nil {
			r.report("error step", aerr)
		} else if uerr := r.log.UpdateStep(ctx, id, StatusCritical, msg); uerr != nil {
			r.report("error step", uerr)
		}
		if ferr := r.log.FailJob(ctx, r.id, LevelCritical); ferr != nil {
			r.report("fail job", ferr)
		}
		return err
	}
	r.endStep(ctx, StatusOK, "")
	var ferr error
	if r.warned {
		ferr = r.log.FailJob(ctx, r.id, LevelWarning)
	} else {
		ferr = r.log.CloseJob(ctx, r.id)
	}
	if ferr != nil {
		r.report("close job", ferr)
	}
	return nil
}

// Skipped logs a job for a run that did not happen because another refresh
// held the lock: one WARNING step, job ended at level 2, as mimeo does.
func Skipped(ctx context.Context, log JobLog, logger *slog.Logger, name string, why error) {
	r := StartJob(ctx, log, logger, name)
	r.Warn(ctx, "Run skipped: "+strings.TrimSpace(why.Error()))
	_ = r.Finish(ctx, nil)
}
