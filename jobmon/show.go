package jobmon

import (
	"context"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
)

// DefaultShowLimit is how many jobs the Show methods return when given a
// limit of 0 or less.
const DefaultShowLimit = 10

// Job is one row of job_log.
type Job struct {
	// ID is job_log.job_id.
	ID int64
	// Owner is the role that logged the job.
	Owner string
	// Name is the job's name, upper-cased.
	Name string
	// Start is when the job was added.
	Start time.Time
	// End is zero while the job runs.
	End time.Time
	// Status is the text of the level the job ended at, "" while it runs.
	Status string
	// PID is the backend doing the job's work, 0 when not recorded.
	PID uint32
}

// Step is one row of job_detail.
type Step struct {
	// JobID is the job the step belongs to.
	JobID int64
	// ID is job_detail.step_id.
	ID int64
	// Action describes the step.
	Action string
	// Start is when the step was added.
	Start time.Time
	// End is zero while the step runs.
	End time.Time
	// Elapsed is the time from Start to End, zero while the step runs.
	Elapsed time.Duration
	// Status is "" while the step runs.
	Status string
	// Message says how the step went.
	Message string
}

const jobColumns = `j.job_id, j.owner, j.job_name, j.start_time, j.end_time, j.status, j.pid`

func scanJob(row pgx.CollectableRow) (Job, error) {
	var j Job
	var end *time.Time
	var status *string
	var pid *int64
	if err := row.Scan(&j.ID, &j.Owner, &j.Name, &j.Start, &end, &status, &pid); err != nil {
		return j, err
	}
	if end != nil {
		j.End = *end
	}
	if status != nil {
		j.Status = *status
	}
	if pid != nil {
		j.PID = uint32(*pid)
	}
	return j, nil
}

const stepColumns = `d.job_id, d.step_id, d.action, d.start_time, d.end_time, d.elapsed_time, d.status, d.message`

func scanStep(row pgx.CollectableRow) (Step, error) {
	var s Step
	var end *time.Time
	var elapsed *float64
	var status, msg *string
	if err := row.Scan(&s.JobID, &s.ID, &s.Action, &s.Start, &end, &elapsed, &status, &msg); err != nil {
		return s, err
	}
	if end != nil {
		s.End = *end
	}
	if elapsed != nil {
		s.Elapsed = time.Duration(*elapsed * float64(time.Second))
	}
	if status != nil {
		s.Status = *status
	}
	if msg != nil {
		s.Message = *msg
	}
	return s, nil
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// jobs returns the newest limit jobs that meet every one of where, newest
// first. The query is assembled with squirrel from its optional parts,
// values always as $n arguments.
func (l *Logger) jobs(ctx context.Context, what string, limit int, where ...sq.Sqlizer) ([]Job, error) {
	q := sq.Select(jobColumns).From(l.t("job_log") + " j").
		OrderBy("j.job_id DESC").Limit(uint64(limit)).PlaceholderFormat(sq.Dollar)
	for _, w := range where {
		q = q.Where(w)
	}
	sql, args, err := q.ToSql()
	if err != nil {
		return nil, fmt.Errorf("%s: build query: %w", what, err)
	}
	out, err := collect(ctx, l, scanJob, sql, args...)
	if err != nil {
		return nil, l.wrap(what, err)
	}
	return out, nil
}

// byName matches jobs named name, upper-cased as pg_jobmon stores them.
func byName(name string) sq.Sqlizer { return sq.Expr("j.job_name = upper(?)", name) }

// ShowJob returns the newest limit jobs named name (upper-cased), newest first.
func (l *Logger) ShowJob(ctx context.Context, name string, limit int) ([]Job, error) {
	return l.jobs(ctx, "show job "+name, limitOr(limit, DefaultShowLimit), byName(name))
}

// ShowJobLike returns the newest limit jobs whose name matches the POSIX
// regular expression pattern (upper-cased), newest first.
func (l *Logger) ShowJobLike(ctx context.Context, pattern string, limit int) ([]Job, error) {
	return l.jobs(ctx, "show jobs like "+pattern, limitOr(limit, DefaultShowLimit), sq.Expr("j.job_name ~ upper(?)", pattern))
}

// ShowJobStatus returns the newest limit jobs that ended with status (e.g.
// "CRITICAL"), newest first; a name that is not empty (upper-cased) also
// restricts them to that job.
func (l *Logger) ShowJobStatus(ctx context.Context, name, status string, limit int) ([]Job, error) {
	where := []sq.Sqlizer{sq.Eq{"j.status": status}}
	if name != "" {
		where = append(where, byName(name))
	}
	return l.jobs(ctx, "show jobs with status "+status, limitOr(limit, DefaultShowLimit), where...)
}

// ShowRunning returns the newest limit jobs that have not ended and whose
// backend (see WithPID) is still the live backend that started them,
// newest first. Jobs recorded without a backend are not listed.
func (l *Logger) ShowRunning(ctx context.Context, limit int) ([]Job, error) {
	return l.jobs(ctx, "show running jobs", limitOr(limit, DefaultShowLimit), sq.Expr(`j.status IS NULL AND EXISTS (
		SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = j.pid
			AND (a.backend_start IS NULL OR a.backend_start <= j.start_time))`))
}

// ShowDetail returns the steps of job jobID in the order they were added.
func (l *Logger) ShowDetail(ctx context.Context, jobID int64) ([]Step, error) {
	out, err := collect(ctx, l, scanStep, `SELECT `+stepColumns+` FROM `+l.t("job_detail")+` d
		WHERE d.job_id = $1 ORDER BY d.step_id`, jobID)
	if err != nil {
		return nil, l.wrap("show job detail", err)
	}
	return out, nil
}

// ShowDetailByName returns the steps of the newest limit jobs named name
// (upper-cased; a limit of 0 or less means 1): newest job first, each
// job's steps in the order they were added.
func (l *Logger) ShowDetailByName(ctx context.Context, name string, limit int) ([]Step, error) {
	out, err := collect(ctx, l, scanStep, `SELECT `+stepColumns+`
		FROM (SELECT job_id FROM `+l.t("job_log")+` WHERE job_name = upper($1) ORDER BY job_id DESC LIMIT $2) j
		JOIN `+l.t("job_detail")+` d ON d.job_id = j.job_id
		ORDER BY d.job_id DESC, d.step_id`, name, limitOr(limit, 1))
	if err != nil {
		return nil, l.wrap("show job detail of "+name, err)
	}
	return out, nil
}
