package jobmon

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alert statuses that CheckJobStatus reports.
const (
	AlertOK        = "OK"
	AlertFailedRun = "FAILED_RUN"
	AlertMissing   = "MISSING"
	AlertRunning   = "RUNNING"
	AlertBlocked   = "BLOCKED"
)

// Alert is one row of CheckJobStatus.
type Alert struct {
	// Code is the alert level: 1 OK, 2 WARNING, 3 CRITICAL (or a higher
	// level added to job_status_text).
	Code int
	// Status says what is wrong: FAILED_RUN, MISSING, RUNNING or BLOCKED;
	// OK for the single all-clear row.
	Status string
	// JobName is the job at fault, "" in the all-clear row.
	JobName string
	// Text explains the alert.
	Text string
}

// CheckJobStatus runs the schema's check_job_status() and returns its rows,
// worst first. With nothing wrong it returns one row: {1, "OK", "", "All
// jobs run successfully"}. The rules, pg_jobmon's:
//
//   - FAILED_RUN: a job that failed (ended at level 2 or more) more times in
//     a row than its sensitivity, 2 for a job without an active
//     job_check_config row (so 3 failures alert); the level is the highest
//     among those runs, after escalation.
//   - MISSING: a job with an active config row whose last run that ended OK
//     is older than warn_threshold (level 2) or error_threshold (level 3,
//     also when there is none).
//   - RUNNING: as MISSING, when a run of the job has gone on longer than a
//     threshold and its backend (see WithPID) is still there.
//   - BLOCKED: as RUNNING, when that backend waits on a lock.
//
// Inactive config rows are ignored (the job falls under the default rule).
// Escalation happens when a job ends (see CheckConfig.Escalate).
func (l *Logger) CheckJobStatus(ctx context.Context) ([]Alert, error) {
	out, err := collect(ctx, l, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.Code, &a.Status, &a.JobName, &a.Text)
		return a, err
	}, `SELECT alert_code, alert_status, COALESCE(job_name, ''), alert_text FROM `+l.t("check_job_status")+`()`)
	if err != nil {
		return nil, l.wrap("check job status", err)
	}
	return out, nil
}

// CheckConfig is one row of job_check_config: monitoring of one job beyond
// the default rule.
type CheckConfig struct {
	// JobName is the job's name; it is upper-cased, as AddJob does.
	JobName string
	// Warn is how long the job may go without a run that ends OK before it
	// is MISSING at level 2, and how long a run may go on before it is
	// RUNNING at level 2. Required.
	Warn time.Duration
	// Error is the same for level 3. Required.
	Error time.Duration
	// Active turns the monitoring on; inactive rows are ignored.
	// Default false, as in pg_jobmon.
	Active bool
	// Sensitivity is how many failed runs in a row are tolerated before
	// FAILED_RUN: 0 alerts on the first failure. Default 0.
	Sensitivity int
	// Escalate, when positive, raises the alert level of a job that has
	// alerted Escalate times in a row at one level to the next level (e.g.
	// WARNING to CRITICAL). Default 0: no escalation.
	Escalate int
}

func (c *CheckConfig) validate() error {
	switch {
	case strings.TrimSpace(c.JobName) == "":
		return &ConfigError{Field: "CheckConfig.JobName", Problem: "give the job's name"}
	case c.Warn < time.Microsecond:
		return &ConfigError{Field: "CheckConfig.Warn", Problem: "must be at least 1µs"}
	case c.Error < time.Microsecond:
		return &ConfigError{Field: "CheckConfig.Error", Problem: "must be at least 1µs"}
	case c.Sensitivity < 0 || c.Sensitivity > 32767:
		return &ConfigError{Field: "CheckConfig.Sensitivity", Problem: "must be between 0 and 32767"}
	case c.Escalate < 0:
		return &ConfigError{Field: "CheckConfig.Escalate", Problem: "must be 0 (no escalation) or positive"}
	}
	return nil
}

// SetCheckConfig inserts or replaces the job_check_config row of c.JobName.
func (l *Logger) SetCheckConfig(ctx context.Context, c CheckConfig) error {
	if err := c.validate(); err != nil {
		return err
	}
	var escalate *int
	if c.Escalate > 0 {
		escalate = &c.Escalate
	}
	_, err := l.exec(ctx, `INSERT INTO `+l.t("job_check_config")+`
		(job_name, warn_threshold, error_threshold, active, sensitivity, escalate)
		VALUES (upper($1), $2::bigint * interval '1 microsecond', $3::bigint * interval '1 microsecond', $4, $5, $6)
		ON CONFLICT (job_name) DO UPDATE SET
			warn_threshold = EXCLUDED.warn_threshold, error_threshold = EXCLUDED.error_threshold,
			active = EXCLUDED.active, sensitivity = EXCLUDED.sensitivity, escalate = EXCLUDED.escalate`,
		c.JobName, c.Warn.Microseconds(), c.Error.Microseconds(), c.Active, c.Sensitivity, escalate)
	return l.wrap("set check config of "+c.JobName, err)
}

// DeleteCheckConfig removes the job_check_config row of job name, if any.
func (l *Logger) DeleteCheckConfig(ctx context.Context, name string) error {
	_, err := l.exec(ctx, `DELETE FROM `+l.t("job_check_config")+` WHERE job_name = upper($1)`, name)
	return l.wrap("delete check config of "+name, err)
}
