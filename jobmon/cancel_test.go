package jobmon_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/jobmon"
)

func TestCancelJobStopsItsBackendAndRecordsIt(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	conn, pid := tb.backend(t)
	id, err := l.AddJob(jobmon.WithPID(ctx, pid), "sleeper")
	require.NoError(t, err)
	step, err := l.AddStep(ctx, id, "sleeping")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`)
		done <- err
	}()
	require.Eventually(t, func() bool {
		return len(pgtestRows(t, tb, `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'`, pid)) == 1
	}, 30*time.Second, 20*time.Millisecond)
	running, err := l.ShowRunning(ctx, 0)
	require.NoError(t, err)
	require.Len(t, running, 1)
	require.Equal(t, id, running[0].ID)
	require.Equal(t, pid, running[0].PID)

	signalled, err := l.CancelJob(ctx, id)
	require.NoError(t, err)
	require.True(t, signalled)
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the job's statement was not cancelled")
	}
	var pe *pgconn.PgError
	require.True(t, errors.As(runErr, &pe), "got %v", runErr)
	require.Equal(t, pgerrcode.QueryCanceled, pe.Code)

	// The job's own code then logs its error and fails the job, as
	// replication.JobRun does: the cancellation stays on record.
	require.NoError(t, l.UpdateStep(ctx, step, jobmon.StatusCritical, "ERROR: "+runErr.Error()))
	require.NoError(t, l.FailJob(ctx, id, jobmon.LevelCritical))

	require.Equal(t, []string{fmt.Sprintf(`(%d,SLEEPER,CRITICAL,t,t)`, id)}, tb.jobRows(t))
	steps, err := l.ShowDetail(ctx, id)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, []string{"sleeping", "CRITICAL", "ERROR: " + runErr.Error()},
		[]string{steps[0].Action, steps[0].Status, steps[0].Message})
	require.Equal(t, []string{"CANCEL", "CRITICAL",
		fmt.Sprintf("Manually cancelled by postgres through jobmon CancelJob: backend %d signalled", pid)},
		[]string{steps[1].Action, steps[1].Status, steps[1].Message})
	require.Equal(t, []string{fmt.Sprintf(`(%d,SLEEPER,3)`, id)}, tb.checkLog(t))

	running, err = l.ShowRunning(ctx, 0)
	require.NoError(t, err)
	require.Empty(t, running)
	_, err = l.CancelJob(ctx, id)
	require.ErrorIs(t, err, jobmon.ErrJobEnded)
	_, err = l.CancelJob(ctx, id+1000)
	require.ErrorIs(t, err, jobmon.ErrJobNotFound)
}

// A job recorded without a backend, or whose backend is gone, is still
// ended and recorded as cancelled; nothing is signalled.
func TestCancelJobWithoutLiveBackend(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	noPID, err := l.AddJob(ctx, "no pid")
	require.NoError(t, err)
	c, err := tb.Server.Connect(ctx, tb.DestDB)
	require.NoError(t, err)
	gonePID := c.PgConn().PID()
	gone, err := l.AddJob(jobmon.WithPID(ctx, gonePID), "gone")
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx))
	require.Eventually(t, func() bool {
		return len(pgtestRows(t, tb, `SELECT 1 FROM pg_stat_activity WHERE pid = $1`, gonePID)) == 0
	}, 30*time.Second, 20*time.Millisecond)

	for _, id := range []int64{noPID, gone} {
		signalled, err := l.CancelJob(ctx, id)
		require.NoError(t, err)
		require.False(t, signalled)
		steps, err := l.ShowDetail(ctx, id)
		require.NoError(t, err)
		require.Len(t, steps, 1)
		require.Equal(t, "Manually cancelled by postgres through jobmon CancelJob: no live backend of the job to signal", steps[0].Message)
	}
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,"NO PID",CRITICAL,t,f)`, noPID),
		fmt.Sprintf(`(%d,GONE,CRITICAL,t,t)`, gone),
	}, tb.jobRows(t))
}

// A role that may not signal the job's backend changes nothing.
func TestCancelJobNeedsSignalPrivilege(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	role := tb.CreateRole(t)
	grantJobmon(t, tb, role.Name)
	weak, err := jobmon.Open(ctx, tb.DSN(tb.DestDB, role), nil)
	require.NoError(t, err)
	defer weak.Close()

	_, pid := tb.backend(t) // a superuser backend
	id, err := tb.log.AddJob(jobmon.WithPID(ctx, pid), "protected")
	require.NoError(t, err)
	_, err = weak.CancelJob(ctx, id)
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "got %v", err)
	require.Equal(t, pgerrcode.InsufficientPrivilege, pe.Code)
	require.Equal(t, []string{fmt.Sprintf(`(%d,PROTECTED,,f,t)`, id)}, tb.jobRows(t))
	require.Equal(t, []string{}, tb.stepRows(t))
}
