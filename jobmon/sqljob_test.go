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

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

func TestSQLStepLogsRowCountAndErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	pgtest.MustExec(t, tb.Dest, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 6) g`)

	id, err := l.AddJob(ctx, "steps")
	require.NoError(t, err)
	tx, err := tb.Dest.Begin(ctx)
	require.NoError(t, err)
	n, err := l.SQLStep(ctx, tx, id, "delete evens", `DELETE FROM t WHERE id % $1 = 0`, 2)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	_, err = l.SQLStep(ctx, tx, id, "divide", `UPDATE t SET v = v / 0`)
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "got %v", err)
	require.Equal(t, pgerrcode.DivisionByZero, pe.Code)
	require.NoError(t, tx.Rollback(ctx))

	// The caller's rollback undid the delete; the steps stay logged and the
	// job stays open.
	require.Equal(t, []string{"(1,1)", "(2,2)", "(3,3)", "(4,4)", "(5,5)", "(6,6)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
	steps, err := l.ShowDetail(ctx, id)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, []string{"delete evens", "OK", "Rows affected: 3"}, []string{steps[0].Action, steps[0].Status, steps[0].Message})
	require.Equal(t, []string{"divide", "CRITICAL", pe.Error()}, []string{steps[1].Action, steps[1].Status, steps[1].Message})
	require.Equal(t, []string{fmt.Sprintf(`(%d,STEPS,,f,f)`, id)}, tb.jobRows(t))
}

func TestSQLJobRunsAsALoggedJob(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	pgtest.MustExec(t, tb.Dest, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 3) g`)

	id, n, err := l.SQLJob(ctx, tb.Dest, "bump", `UPDATE t SET v = v + $1`, 1)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.Equal(t, []string{"(1,1)", "(2,1)", "(3,1)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
	// Run on the log's server, so the job's backend is recorded.
	require.Equal(t, []string{fmt.Sprintf(`(%d,BUMP,OK,t,t)`, id)}, tb.jobRows(t))
	steps, err := l.ShowDetail(ctx, id)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, []string{"Running SQL: UPDATE t SET v = v + $1", "OK", "Rows affected: 3"},
		[]string{steps[0].Action, steps[0].Status, steps[0].Message})

	// A failing statement changes nothing and ends the job CRITICAL.
	id2, _, err := l.SQLJob(ctx, tb.Dest, "bump", `UPDATE t SET v = v / 0`)
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "got %v", err)
	require.Equal(t, pgerrcode.DivisionByZero, pe.Code)
	require.Equal(t, []string{"(1,1)", "(2,1)", "(3,1)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
	steps, err = l.ShowDetail(ctx, id2)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, []string{"CRITICAL", pe.Error()}, []string{steps[0].Status, steps[0].Message})
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,BUMP,OK,t,t)`, id),
		fmt.Sprintf(`(%d,BUMP,CRITICAL,t,t)`, id2),
	}, tb.jobRows(t))
}

// A SQL job refuses to run while another run of it is in progress, in any
// session; the refused run is logged as a WARNING job and changes nothing.
func TestSQLJobRefusesToRunConcurrentlyWithItself(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	pgtest.MustExec(t, tb.Dest, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 3) g`)

	// The test holds a row lock, so the first run blocks inside its statement.
	blocker, err := tb.Dest.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	_, err = blocker.Exec(ctx, `SELECT * FROM t WHERE id = 2 FOR UPDATE`)
	require.NoError(t, err)

	type result struct {
		id, n int64
		err   error
	}
	first := make(chan result, 1)
	go func() {
		id, n, err := l.SQLJob(ctx, tb.Dest, "bump all", `UPDATE t SET v = v + 1`)
		first <- result{id, n, err}
	}()
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, tb.Dest, `SELECT 1 FROM jobmon.job_log
			WHERE job_name = 'BUMP ALL' AND status IS NULL AND cardinality(pg_blocking_pids(pid)) > 0`)) == 1
	}, 30*time.Second, 20*time.Millisecond)

	// Another session (another logger, another pool) tries the same job.
	other, err := jobmon.Open(ctx, tb.DestDSN, nil)
	require.NoError(t, err)
	defer other.Close()
	secondID, n, err := other.SQLJob(ctx, tb.Dest, "Bump All", `UPDATE t SET v = v + 100`)
	require.ErrorIs(t, err, jobmon.ErrJobRunning)
	require.Zero(t, n)
	steps, err := l.ShowDetail(ctx, secondID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, []string{"Obtaining advisory lock for job: Bump All", "WARNING", "Another run of this job holds its lock; this run did nothing"},
		[]string{steps[0].Action, steps[0].Status, steps[0].Message})

	require.NoError(t, blocker.Rollback(ctx))
	var r result
	select {
	case r = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("first run did not finish")
	}
	require.NoError(t, r.err)
	require.EqualValues(t, 3, r.n)
	require.Equal(t, []string{"(1,1)", "(2,1)", "(3,1)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,"BUMP ALL",OK,t,t)`, r.id),
		fmt.Sprintf(`(%d,"BUMP ALL",WARNING,t,t)`, secondID),
	}, tb.jobRows(t))

	// With the first run over, the job runs again.
	_, n, err = other.SQLJob(ctx, tb.Dest, "bump all", `UPDATE t SET v = v + 1`)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.Equal(t, []string{"(1,2)", "(2,2)", "(3,2)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
}
