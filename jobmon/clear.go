package jobmon

import (
	"context"
	"fmt"
	"time"
)

// ClearLogJobName is the name of the job that ClearLog logs itself as.
const ClearLogJobName = "JOBMON CLEAR LOG"

// ClearLog deletes the jobs (and their steps) that started more than
// olderThan ago, logging the deletion as a job of its own named
// ClearLogJobName, and returns the number of jobs deleted. job_check_log is
// left alone: failures not yet followed by a success keep alerting.
func (l *Logger) ClearLog(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, &ConfigError{Field: "ClearLog olderThan", Problem: "must be positive"}
	}
	jobID, err := l.AddJob(ctx, ClearLogJobName)
	if err != nil {
		return 0, err
	}
	lctx := context.WithoutCancel(ctx)
	var boundary time.Time
	if err := l.queryRow(ctx, `SELECT now() - $1::bigint * interval '1 microsecond'`, []any{olderThan.Microseconds()}, &boundary); err != nil {
		_ = l.FailJob(lctx, jobID, LevelCritical)
		return 0, l.wrap("clear job log", err)
	}
	stepID, err := l.AddStep(ctx, jobID, "Deleting jobs started before "+boundary.UTC().Format(time.RFC3339Nano))
	if err != nil {
		_ = l.FailJob(lctx, jobID, LevelCritical)
		return 0, err
	}
	tag, err := l.exec(ctx, `DELETE FROM `+l.t("job_log")+` WHERE start_time < $1 AND job_id <> $2`, boundary, jobID)
	if err != nil {
		_ = l.UpdateStep(lctx, stepID, StatusCritical, stepError(err))
		_ = l.FailJob(lctx, jobID, LevelCritical)
		return 0, l.wrap("clear job log", err)
	}
	n := tag.RowsAffected()
	if err := l.UpdateStep(ctx, stepID, StatusOK, fmt.Sprintf("Deleted %d jobs and their steps", n)); err != nil {
		return n, err
	}
	if l.logger != nil {
		l.logger.Info("jobmon: job log cleared", "deleted", n, "before", boundary)
	}
	return n, l.CloseJob(ctx, jobID)
}
