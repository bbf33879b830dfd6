package replication_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
)

// recordingLog is a JobLog that keeps what it is told, to check what
// JobRun writes. (jobmon's tests check the real one against a database.)
type recordingLog struct{ lines []string }

func (r *recordingLog) AddJob(_ context.Context, name string) (int64, error) {
	r.lines = append(r.lines, "job "+strings.ToUpper(name))
	return 1, nil
}
func (r *recordingLog) AddStep(_ context.Context, _ int64, action string) (int64, error) {
	r.lines = append(r.lines, "step "+action)
	return int64(len(r.lines)), nil
}
func (r *recordingLog) UpdateStep(_ context.Context, _ int64, status, msg string) error {
	r.lines = append(r.lines, fmt.Sprintf("  %s %s", status, msg))
	return nil
}
func (r *recordingLog) CloseJob(context.Context, int64) error {
	r.lines = append(r.lines, "close")
	return nil
}
func (r *recordingLog) FailJob(_ context.Context, _ int64, level int) error {
	r.lines = append(r.lines, fmt.Sprintf("fail %d", level))
	return nil
}

func TestJobRun(t *testing.T) {
	ctx := context.Background()
	tbl := replication.T("public", "orders")

	ok := &recordingLog{}
	run := replication.StartJob(ctx, ok, nil, replication.JobName("Refresh Snap", tbl))
	run.Step(ctx, "Pulling rows")
	run.Done(ctx, "copied %d rows", 10)
	run.Step(ctx, "Swapping view")
	require.NoError(t, run.Finish(ctx, nil))
	require.Equal(t, []string{"job REFRESH SNAP: PUBLIC.ORDERS", "step Pulling rows", "  OK copied 10 rows",
		"step Swapping view", "  OK Done", "close"}, ok.lines)

	failed := &recordingLog{}
	run = replication.StartJob(ctx, failed, nil, "Refresh X")
	run.Step(ctx, "Pulling rows")
	boom := errors.New("boom")
	require.ErrorIs(t, run.Finish(ctx, boom), boom)
	require.Equal(t, []string{"job REFRESH X", "step Pulling rows", "  CRITICAL ERROR: boom", "fail 3"}, failed.lines)

	warned := &recordingLog{}
	run = replication.StartJob(ctx, warned, nil, "Refresh X")
	run.Warn(ctx, "long transaction")
	require.NoError(t, run.Finish(ctx, nil))
	require.Equal(t, []string{"job REFRESH X", "step WARNING", "  WARNING long transaction", "fail 2"}, warned.lines)

	skipped := &recordingLog{}
	replication.Skipped(ctx, skipped, nil, "Refresh X", replication.ErrLocked)
	require.Equal(t, []string{"job REFRESH X", "step WARNING", "  WARNING Run skipped: another refresh of this table is running", "fail 2"}, skipped.lines)

	// No log: nothing happens, errors still pass through.
	run = replication.StartJob(ctx, nil, nil, "Refresh X")
	run.Step(ctx, "x")
	require.ErrorIs(t, run.Finish(ctx, boom), boom)
}
