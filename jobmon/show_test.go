package jobmon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

func TestShowJobsAndSteps(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	_, pid := tb.backend(t)

	add := func(ctx context.Context, name string, level int, steps ...string) int64 {
		id, err := l.AddJob(ctx, name)
		require.NoError(t, err)
		for _, s := range steps {
			sid, err := l.AddStep(ctx, id, s)
			require.NoError(t, err)
			require.NoError(t, l.UpdateStep(ctx, sid, jobmon.StatusOK, s+" done"))
		}
		switch level {
		case 1:
			require.NoError(t, l.CloseJob(ctx, id))
		case 2, 3:
			require.NoError(t, l.FailJob(ctx, id, level))
		}
		return id
	}
	a1 := add(ctx, "alpha", 1, "a1 s1", "a1 s2")
	a2 := add(ctx, "alpha", 3, "a2 s1")
	a3 := add(jobmon.WithPID(ctx, pid), "alpha", 0, "a3 s1") // running
	ab := add(ctx, "alphabet", 1)
	b1 := add(ctx, "beta", 2)
	stale := add(jobmon.WithPID(ctx, pid), "stale", 0) // pid reused by a later backend
	pgtest.MustExec(t, tb.Dest, `UPDATE jobmon.job_log SET start_time = now() - interval '1 day' WHERE job_id = $1`, stale)

	ids := func(jobs []jobmon.Job, err error) []int64 {
		require.NoError(t, err)
		out := []int64{}
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	require.Equal(t, []int64{a3, a2, a1}, ids(l.ShowJob(ctx, "Alpha", 0)))
	require.Equal(t, []int64{a3, a2}, ids(l.ShowJob(ctx, "alpha", 2)))
	require.Equal(t, []int64{ab, a3, a2, a1}, ids(l.ShowJobLike(ctx, "^alpha", 0)))
	require.Equal(t, []int64{b1, ab}, ids(l.ShowJobLike(ctx, "bet", 0)))
	require.Equal(t, []int64{ab, a1}, ids(l.ShowJobStatus(ctx, "", "OK", 0)))
	require.Equal(t, []int64{a1}, ids(l.ShowJobStatus(ctx, "alpha", "OK", 0)))
	require.Equal(t, []int64{b1}, ids(l.ShowJobStatus(ctx, "", "WARNING", 0)))
	require.Equal(t, []int64{a3}, ids(l.ShowRunning(ctx, 0)))
	_, err := l.ShowJobLike(ctx, "(", 0)
	require.ErrorContains(t, err, "regular expression")

	jobs, err := l.ShowJob(ctx, "alpha", 1)
	require.NoError(t, err)
	require.Equal(t, pid, jobs[0].PID)
	require.Equal(t, "ALPHA", jobs[0].Name)
	require.Equal(t, "", jobs[0].Status)
	require.True(t, jobs[0].End.IsZero())
	require.Equal(t, "postgres", jobs[0].Owner)

	actions := func(steps []jobmon.Step, err error) []string {
		require.NoError(t, err)
		out := []string{}
		for _, s := range steps {
			out = append(out, fmt.Sprintf("%d:%s:%s:%s", s.JobID, s.Action, s.Status, s.Message))
			require.False(t, s.End.IsZero())
			require.GreaterOrEqual(t, s.Elapsed, time.Duration(0))
		}
		return out
	}
	require.Equal(t, []string{
		fmt.Sprintf("%d:a1 s1:OK:a1 s1 done", a1),
		fmt.Sprintf("%d:a1 s2:OK:a1 s2 done", a1),
	}, actions(l.ShowDetail(ctx, a1)))
	require.Equal(t, []string{fmt.Sprintf("%d:a3 s1:OK:a3 s1 done", a3)}, actions(l.ShowDetailByName(ctx, "alpha", 0)))
	require.Equal(t, []string{
		fmt.Sprintf("%d:a3 s1:OK:a3 s1 done", a3),
		fmt.Sprintf("%d:a2 s1:OK:a2 s1 done", a2),
		fmt.Sprintf("%d:a1 s1:OK:a1 s1 done", a1),
		fmt.Sprintf("%d:a1 s2:OK:a1 s2 done", a1),
	}, actions(l.ShowDetailByName(ctx, "alpha", 5)))
	require.Equal(t, []string{}, actions(l.ShowDetail(ctx, b1)))
}

func TestClearLogDeletesOldJobsAndLogsItself(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	old1, err := l.AddJob(ctx, "old ok")
	require.NoError(t, err)
	s, err := l.AddStep(ctx, old1, "step")
	require.NoError(t, err)
	require.NoError(t, l.UpdateStep(ctx, s, "OK", "x"))
	require.NoError(t, l.CloseJob(ctx, old1))
	old2, err := l.AddJob(ctx, "old failed")
	require.NoError(t, err)
	require.NoError(t, l.FailJob(ctx, old2, 3))
	recent, err := l.AddJob(ctx, "recent")
	require.NoError(t, err)
	require.NoError(t, l.CloseJob(ctx, recent))
	pgtest.MustExec(t, tb.Dest, `UPDATE jobmon.job_log SET start_time = now() - interval '3 days' WHERE job_id IN ($1, $2)`, old1, old2)

	_, err = l.ClearLog(ctx, 0)
	require.ErrorIs(t, err, jobmon.ErrBadConfig)
	n, err := l.ClearLog(ctx, 48*time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	rows := tb.jobRows(t)
	require.Len(t, rows, 2)
	require.Equal(t, fmt.Sprintf(`(%d,RECENT,OK,t,f)`, recent), rows[0])
	require.Regexp(t, `^\(\d+,"JOBMON CLEAR LOG",OK,t,f\)$`, rows[1])
	clears, err := l.ShowJob(ctx, jobmon.ClearLogJobName, 0)
	require.NoError(t, err)
	require.Len(t, clears, 1)
	steps, err := l.ShowDetail(ctx, clears[0].ID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Regexp(t, `^Deleting jobs started before \d{4}-`, steps[0].Action)
	require.Equal(t, "Deleted 2 jobs and their steps", steps[0].Message)
	// The deleted jobs' steps went with them; their unresolved failure
	// still counts.
	require.Equal(t, []string{fmt.Sprintf(`(%d,%d,"Deleting jobs started before %s",OK,"Deleted 2 jobs and their steps",t)`,
		clears[0].ID, steps[0].ID, steps[0].Action[len("Deleting jobs started before "):])}, tb.stepRows(t))
	require.Equal(t, []string{fmt.Sprintf(`(%d,"OLD FAILED",3)`, old2)}, tb.checkLog(t))
}
