package jobmon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CancelJob stops job jobID from outside: it ends the job at level 3
// (CRITICAL), cancels the current statement of the job's backend with
// pg_cancel_backend (when the job was recorded with one, see WithPID, and it
// is still the backend that started the job), and records a CANCEL step
// saying who cancelled it. It reports whether a backend was signalled.
//
// The logging role must be allowed to signal the backend (the same role, a
// member of pg_signal_backend, or a superuser); otherwise nothing changes
// and the server's error is returned. A job that has already ended gives
// ErrJobEnded.
func (l *Logger) CancelJob(ctx context.Context, jobID int64) (bool, error) {
	var signalled bool
	var name string
	err := l.retry(ctx, func() error {
		var err error
		signalled, name, err = l.cancelJob(ctx, jobID)
		return err
	})
	if err != nil {
		return false, err
	}
	if l.logger != nil {
		l.logger.Info("jobmon: job cancelled", "job_id", jobID, "job", name, "signalled", signalled)
	}
	return signalled, nil
}

// cancelJob is one attempt at CancelJob, in one transaction; it returns
// whether a backend was signalled and the job's name.
func (l *Logger) cancelJob(ctx context.Context, jobID int64) (bool, string, error) {
	what := fmt.Sprintf("cancel job %d", jobID)
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return false, "", l.wrap(what, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var pid *int64
	var start time.Time
	var name string
	err = tx.QueryRow(ctx, `UPDATE `+l.t("job_log")+`
		SET end_time = now(),
		    status = (SELECT alert_text FROM `+l.t("job_status_text")+` WHERE alert_code = $2)
		WHERE job_id = $1 AND status IS NULL
		RETURNING pid, start_time, job_name`, jobID, LevelCritical).Scan(&pid, &start, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+l.t("job_log")+` WHERE job_id = $1)`, jobID).Scan(&exists); err != nil {
			return false, "", l.wrap(what, err)
		}
		if exists {
			return false, "", fmt.Errorf("%s: %w", what, ErrJobEnded)
		}
		return false, "", fmt.Errorf("%s: %w", what, ErrJobNotFound)
	}
	if err != nil {
		return false, "", l.wrap(what, err)
	}

	signalled := false
	if pid != nil {
		// Only the backend that started the job: a pid reused by a later
		// backend has a later backend_start (NULL to a role that may not
		// see the session; then pg_cancel_backend checks the privilege).
		err = tx.QueryRow(ctx, `SELECT COALESCE((
			SELECT pg_cancel_backend(a.pid) FROM pg_catalog.pg_stat_activity a
			WHERE a.pid = $1 AND (a.backend_start IS NULL OR a.backend_start <= $2)), false)`, *pid, start).Scan(&signalled)
		if err != nil {
			return false, "", l.wrap(what, err)
		}
	}
	msg := "no live backend of the job to signal"
	if signalled {
		msg = fmt.Sprintf("backend %d signalled", *pid)
	}
	_, err = tx.Exec(ctx, `INSERT INTO `+l.t("job_detail")+`
		(job_id, action, start_time, end_time, elapsed_time, status, message)
		SELECT $1, 'CANCEL', now(), now(), 0, t.alert_text,
		       format('Manually cancelled by %s through jobmon CancelJob: %s', current_user, $3::text)
		FROM `+l.t("job_status_text")+` t WHERE t.alert_code = $2`, jobID, LevelCritical, msg)
	if err != nil {
		return false, "", l.wrap(what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, "", l.wrap(what, err)
	}
	return signalled, name, nil
}
