package jobmon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs one statement: *pgxpool.Pool, *pgx.Conn, *pgxpool.Conn and
// pgx.Tx all satisfy it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DB runs statements and begins transactions (or savepoints):
// *pgxpool.Pool, *pgx.Conn, *pgxpool.Conn and pgx.Tx all satisfy it.
type DB interface {
	Execer
	Begin(ctx context.Context) (pgx.Tx, error)
}

// sqlJobLockClass keys SQLJob's advisory locks ("jmsq").
const sqlJobLockClass = 0x6a6d7371

// SQLStep runs one SQL statement on db (the caller's handle, which may be a
// transaction) as a logged step of job jobID described by action: the step
// ends OK with the number of rows affected, or CRITICAL with the error,
// which is returned. The job stays open.
func (l *Logger) SQLStep(ctx context.Context, db Execer, jobID int64, action, sql string, args ...any) (int64, error) {
	stepID, err := l.AddStep(ctx, jobID, action)
	if err != nil {
		return 0, err
	}
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		if uerr := l.UpdateStep(context.WithoutCancel(ctx), stepID, StatusCritical, stepError(err)); uerr != nil {
			return 0, fmt.Errorf("step %q: %w (and logging it failed: %v)", action, err, uerr)
		}
		return 0, fmt.Errorf("step %q: %w", action, err)
	}
	rows := tag.RowsAffected()
	return rows, l.UpdateStep(ctx, stepID, StatusOK, fmt.Sprintf("Rows affected: %d", rows))
}

// SQLJob runs one SQL statement on db in a transaction of its own (a
// savepoint when db is a transaction) as a whole logged job named name, and
// returns the job's id and the number of rows affected. It never runs
// concurrently with itself: a transaction-scoped advisory lock keyed on the
// job name guards it in the database of db, and a run that finds the lock
// taken does nothing, is logged as a WARNING job and returns ErrJobRunning.
// A failing statement ends the job CRITICAL and its error is returned.
//
// When db is on the log's server the job records db's backend, so that
// CancelJob can stop the statement.
func (l *Logger) SQLJob(ctx context.Context, db DB, name, sql string, args ...any) (jobID int64, rows int64, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("sql job %s: begin: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var pid uint32
	var started time.Time
	var locked bool
	err = tx.QueryRow(ctx, `SELECT pg_catalog.pg_backend_pid(), pg_catalog.pg_postmaster_start_time(),
		pg_catalog.pg_try_advisory_xact_lock($1, pg_catalog.hashtext($2 || '.' || pg_catalog.upper($3)))`,
		sqlJobLockClass, l.schema, name).Scan(&pid, &started, &locked)
	if err != nil {
		return 0, 0, fmt.Errorf("sql job %s: lock: %w", name, err)
	}
	jobCtx := ctx
	if logStarted, err := l.serverStarted(ctx); err != nil {
		return 0, 0, l.wrap("sql job "+name, err)
	} else if logStarted.Equal(started) {
		jobCtx = WithPID(ctx, pid)
	}
	jobID, err = l.AddJob(jobCtx, name)
	if err != nil {
		return 0, 0, err
	}
	// From here on the job is in the log: record its end even if ctx ends.
	lctx := context.WithoutCancel(ctx)

	if !locked {
		stepID, err := l.AddStep(lctx, jobID, "Obtaining advisory lock for job: "+name)
		if err == nil {
			err = l.UpdateStep(lctx, stepID, StatusWarning, "Another run of this job holds its lock; this run did nothing")
		}
		if err == nil {
			err = l.FailJob(lctx, jobID, LevelWarning)
		}
		if err != nil {
			return jobID, 0, err
		}
		if l.logger != nil {
			l.logger.Warn("jobmon: sql job skipped: another run holds its lock", "job", name, "job_id", jobID)
		}
		return jobID, 0, fmt.Errorf("sql job %s: %w", name, ErrJobRunning)
	}

	stepID, err := l.AddStep(lctx, jobID, "Running SQL: "+sql)
	if err != nil {
		_ = l.FailJob(lctx, jobID, LevelCritical)
		return jobID, 0, err
	}
	fail := func(cause error) (int64, int64, error) {
		if err := l.UpdateStep(lctx, stepID, StatusCritical, stepError(cause)); err != nil {
			return jobID, 0, fmt.Errorf("sql job %s: %w (and logging it failed: %v)", name, cause, err)
		}
		if err := l.FailJob(lctx, jobID, LevelCritical); err != nil {
			return jobID, 0, fmt.Errorf("sql job %s: %w (and logging it failed: %v)", name, cause, err)
		}
		return jobID, 0, fmt.Errorf("sql job %s: %w", name, cause)
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	rows = tag.RowsAffected()
	if err := l.UpdateStep(lctx, stepID, StatusOK, fmt.Sprintf("Rows affected: %d", rows)); err != nil {
		return jobID, rows, err
	}
	return jobID, rows, l.CloseJob(lctx, jobID)
}

// stepError is the message of a step that failed with err, in pg_jobmon's
// "ERROR: …" form (a server error's text already has it).
func stepError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "ERROR: ") {
		return msg
	}
	return "ERROR: " + msg
}
