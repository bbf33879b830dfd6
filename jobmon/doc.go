// Package jobmon is pg_jobmon in Go: a log of jobs and their steps kept in
// PostgreSQL, written so that it survives the rollback of the work it
// describes, and a check of that log for monitoring (see
// [Logger.CheckJobStatus] and the Nagios plugin in cmd/check_job_status).
//
// # Logging
//
// A [Logger] writes through a pool of its own ([Open]) or one it is given
// ([New]); every write is one statement committed at once on an open
// connection, never inside a caller's transaction. A job is started with
// [Logger.AddJob] (its name upper-cased), its steps are added with
// [Logger.AddStep] and ended with [Logger.UpdateStep], and the job is ended
// with [Logger.CloseJob] (OK) or [Logger.FailJob] (level 2 WARNING or 3
// CRITICAL). [Logger.SQLStep] and [Logger.SQLJob] run one statement as a
// logged step or as a whole job that never runs concurrently with itself;
// [Logger.CancelJob] stops a running job from outside; the Show methods read
// the log back, and [Logger.ClearLog] deletes old jobs.
//
// The Logger satisfies replication.JobLog, the interface through which
// pgmimeo's replicators log every setup, refresh and destroy (jobmon itself
// imports nothing of pgmimeo but its internal migration runner):
//
//	log, err := jobmon.Open(ctx, destDSN, nil)
//	…
//	opts := replication.Options{JobLog: log}
//
// A job records the backend that does its work when the context says so
// ([WithPID]); CancelJob signals that backend, and CheckJobStatus sees the
// job RUNNING or BLOCKED while it lives.
//
// # Tables
//
// [Logger.Migrate] creates, in a schema of ours (default "jobmon"), the
// tables of pg_jobmon 1.x with their column names, so queries and
// dashboards written for pg_jobmon keep working: job_log, job_detail,
// job_check_log, job_check_config and job_status_text (1 OK, 2 WARNING,
// 3 CRITICAL; the texts may be edited). A trigger keeps job_check_log, the
// failed runs of each job since its last success, up to date, and escalates
// alerts; the SQL function check_job_status() is what
// [Logger.CheckJobStatus] calls, and may be called from SQL as well.
//
// # Checks
//
// CheckJobStatus follows pg_jobmon's rules: by default a job that failed
// three times in a row alerts (FAILED_RUN); a job_check_config row adds time
// thresholds (MISSING, RUNNING, BLOCKED), a failure sensitivity and alert
// escalation. See [Logger.CheckJobStatus] and [CheckConfig].
//
// # Differences from pg_jobmon
//
// Deliberate, and documented where they apply:
//
//   - There is no SQL-level add_job/add_step/…: the autonomy those got from
//     dblink comes here from the logger's own connection.
//   - job_log.pid is 0 when the job's backend is not known (see WithPID);
//     pg_jobmon records its caller's backend, which a Go caller names only
//     through WithPID.
//   - A job ends once: closing or failing an ended job changes nothing, so
//     a job cancelled by CancelJob stays cancelled; CancelJob refuses a job
//     that has ended and records its own CANCEL step.
//   - FAILED_RUN counts every failed run in a row whatever its level and
//     alerts at the highest level among them.
//   - MISSING is measured from the last run that ended OK; inactive
//     job_check_config rows are ignored, so the job falls under the
//     default rule.
//   - An escalated job's status becomes the text of the escalated level.
//   - SQLStep leaves the job open; a SQLJob run that finds another in
//     progress is logged as WARNING and returns ErrJobRunning.
package jobmon
