package jobmon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/jobctx"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Alert levels, as job_status_text numbers them.
const (
	LevelOK       = 1
	LevelWarning  = 2
	LevelCritical = 3
)

// Step statuses for UpdateStep, as pg_jobmon writes them. Any text may be
// used; these are the usual ones.
const (
	StatusOK       = "OK"
	StatusWarning  = "WARNING"
	StatusCritical = "CRITICAL"
)

// WithPID returns a context that tells AddJob which backend does the job's
// work: CancelJob cancels that backend, ShowRunning and CheckJobStatus see
// the job running (or blocked) while it lives. pid is a backend of the
// server that holds the job log, e.g. conn.PgConn().PID(). Without it a job
// is recorded with pid 0, no backend: job_log.pid is NOT NULL as in
// pg_jobmon, which records its caller's backend; a Go caller's backend is
// known only through WithPID, and the logger's own pooled session is not
// the one to show as running or to cancel.
//
// Replicators set it through replication.WithBackendPID, which is the same.
func WithPID(ctx context.Context, pid uint32) context.Context {
	return jobctx.WithPID(ctx, pid)
}

func pidFrom(ctx context.Context) any {
	return int64(jobctx.PID(ctx))
}

// AddJob starts a job named name, upper-cased as pg_jobmon does, owned by
// the logging role, and returns its id. The backend doing the job's work is
// taken from ctx (see WithPID).
func (l *Logger) AddJob(ctx context.Context, name string) (int64, error) {
	if strings.TrimSpace(name) == "" {
		return 0, &ConfigError{Field: "AddJob name", Problem: "give the job a name"}
	}
	var id int64
	err := l.queryRow(ctx, `INSERT INTO `+l.t("job_log")+` (owner, job_name, start_time, pid)
		VALUES (current_user, upper($1), now(), $2) RETURNING job_id`, []any{name, pidFrom(ctx)}, &id)
	if err != nil {
		return 0, l.wrap("add job "+name, err)
	}
	return id, nil
}

// AddStep starts a step of job jobID described by action and returns its id.
func (l *Logger) AddStep(ctx context.Context, jobID int64, action string) (int64, error) {
	var id int64
	err := l.queryRow(ctx, `INSERT INTO `+l.t("job_detail")+` (job_id, action, start_time)
		VALUES ($1, $2, now()) RETURNING step_id`, []any{jobID, action}, &id)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == pgerrcode.ForeignKeyViolation {
			return 0, fmt.Errorf("add step to job %d: %w", jobID, ErrJobNotFound)
		}
		return 0, l.wrap(fmt.Sprintf("add step to job %d", jobID), err)
	}
	return id, nil
}

// UpdateStep ends step stepID with a status (usually OK, WARNING or
// CRITICAL) and a message, and records its elapsed time. A step may be
// updated again; the last update stands.
func (l *Logger) UpdateStep(ctx context.Context, stepID int64, status, message string) error {
	tag, err := l.exec(ctx, `UPDATE `+l.t("job_detail")+`
		SET end_time = now(), elapsed_time = extract(epoch FROM now() - start_time)::real,
		    status = $2, message = $3
		WHERE step_id = $1`, stepID, status, message)
	if err != nil {
		return l.wrap(fmt.Sprintf("update step %d", stepID), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update step %d: %w", stepID, ErrStepNotFound)
	}
	return nil
}

// CloseJob ends job jobID successfully (status: the text of level 1, "OK").
// A job ends once: closing or failing a job that has already ended (for
// example by CancelJob) leaves it as it ended.
func (l *Logger) CloseJob(ctx context.Context, jobID int64) error {
	return l.endJob(ctx, jobID, LevelOK, "close")
}

// FailJob ends job jobID unsuccessfully at an alert level: 2 (WARNING) or 3
// (CRITICAL); 0 means 3, pg_jobmon's default. The level must have a row in
// job_status_text. Like CloseJob it leaves a job that has already ended as
// it ended.
func (l *Logger) FailJob(ctx context.Context, jobID int64, level int) error {
	if level == 0 {
		level = LevelCritical
	}
	return l.endJob(ctx, jobID, level, "fail")
}

func (l *Logger) endJob(ctx context.Context, jobID int64, level int, verb string) error {
	what := fmt.Sprintf("%s job %d", verb, jobID)
	tag, err := l.exec(ctx, `UPDATE `+l.t("job_log")+` j
		SET end_time = now(), status = t.alert_text
		FROM `+l.t("job_status_text")+` t
		WHERE j.job_id = $1 AND j.status IS NULL AND t.alert_code = $2`, jobID, level)
	if err != nil {
		return l.wrap(what, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var job, lvl bool
	err = l.queryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM `+l.t("job_log")+` WHERE job_id = $1),
		EXISTS (SELECT 1 FROM `+l.t("job_status_text")+` WHERE alert_code = $2)`, []any{jobID, level}, &job, &lvl)
	switch {
	case err != nil:
		return l.wrap(what, err)
	case !job:
		return fmt.Errorf("%s: %w", what, ErrJobNotFound)
	case !lvl:
		return fmt.Errorf("%s at level %d: %w (use a level listed there)", what, level, ErrUnknownLevel)
	}
	return nil // already ended
}
