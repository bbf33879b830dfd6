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

var allClear = []jobmon.Alert{{Code: 1, Status: "OK", Text: "All jobs run successfully"}}

// run logs a whole job of name ending at level (1 closes it).
func run(t *testing.T, l *jobmon.Logger, name string, level int) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := l.AddJob(ctx, name)
	require.NoError(t, err)
	if level == 1 {
		require.NoError(t, l.CloseJob(ctx, id))
	} else {
		require.NoError(t, l.FailJob(ctx, id, level))
	}
	return id
}

// endedAgo moves job id back in time so that it ended ago.
func endedAgo(t *testing.T, tb *testBundle, id int64, ago time.Duration) {
	t.Helper()
	pgtest.MustExec(t, tb.Dest, `UPDATE jobmon.job_log
		SET start_time = now() - $2::bigint * interval '1 microsecond' - interval '1 minute',
		    end_time = now() - $2::bigint * interval '1 microsecond'
		WHERE job_id = $1`, id, ago.Microseconds())
}

func alerts(t *testing.T, l *jobmon.Logger) []jobmon.Alert {
	t.Helper()
	a, err := l.CheckJobStatus(context.Background())
	require.NoError(t, err)
	return a
}

// codes returns the alerts without their texts, which hold timestamps.
func codes(as []jobmon.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, fmt.Sprintf("%d %s %s", a.Code, a.Status, a.JobName))
	}
	return out
}

func setConfig(t *testing.T, l *jobmon.Logger, c jobmon.CheckConfig) {
	t.Helper()
	require.NoError(t, l.SetCheckConfig(context.Background(), c))
}

// waitAge waits until job id has been running longer than d, by the
// server's clock.
func waitAge(t *testing.T, tb *testBundle, id int64, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, tb.Dest, `SELECT 1 FROM jobmon.job_log
			WHERE job_id = $1 AND now() - start_time > $2::bigint * interval '1 microsecond'`, id, d.Microseconds())) == 1
	}, 30*time.Second, 5*time.Millisecond)
}

func TestCheckAllOK(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	l := tb.log
	require.Equal(t, allClear, alerts(t, l))

	run(t, l, "nightly", 1)
	run(t, l, "hourly", 1)
	setConfig(t, l, jobmon.CheckConfig{JobName: "hourly", Warn: time.Hour, Error: 2 * time.Hour, Active: true})
	require.Equal(t, allClear, alerts(t, l))

	// Failures followed by a success are forgotten.
	run(t, l, "nightly", 3)
	run(t, l, "nightly", 3)
	run(t, l, "nightly", 1)
	run(t, l, "nightly", 3)
	run(t, l, "nightly", 2)
	require.Equal(t, allClear, alerts(t, l))
}

func TestCheckConsecutiveFailures(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	l := tb.log

	run(t, l, "flaky", 3)
	require.Equal(t, allClear, alerts(t, l), "one failure is tolerated by default")
	run(t, l, "flaky", 3)
	require.Equal(t, allClear, alerts(t, l))
	run(t, l, "flaky", 3)
	require.Equal(t, []jobmon.Alert{{Code: 3, Status: "FAILED_RUN", JobName: "FLAKY", Text: "3 failed run(s) in a row, the worst CRITICAL"}}, alerts(t, l))
	run(t, l, "flaky", 3)
	require.Equal(t, []jobmon.Alert{{Code: 3, Status: "FAILED_RUN", JobName: "FLAKY", Text: "4 failed run(s) in a row, the worst CRITICAL"}}, alerts(t, l))
	run(t, l, "flaky", 1)
	require.Equal(t, allClear, alerts(t, l))

	// Three warnings alert at WARNING; one critical among them makes it CRITICAL.
	run(t, l, "warner", 2)
	run(t, l, "warner", 2)
	run(t, l, "warner", 2)
	require.Equal(t, []jobmon.Alert{{Code: 2, Status: "FAILED_RUN", JobName: "WARNER", Text: "3 failed run(s) in a row, the worst WARNING"}}, alerts(t, l))
	run(t, l, "mixed", 2)
	run(t, l, "mixed", 3)
	run(t, l, "mixed", 2)
	require.Equal(t, []string{"3 FAILED_RUN MIXED", "2 FAILED_RUN WARNER"}, codes(alerts(t, l)))
}

func TestCheckMissing(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	l := tb.log
	// A high sensitivity keeps failures out of this test.
	setConfig(t, l, jobmon.CheckConfig{JobName: "hourly", Warn: time.Hour, Error: 3 * time.Hour, Active: true, Sensitivity: 5})

	// Never run successfully: CRITICAL at once.
	require.Equal(t, []jobmon.Alert{{Code: 3, Status: "MISSING", JobName: "HOURLY", Text: "No successful run recorded"}}, alerts(t, l))

	ok := run(t, l, "hourly", 1)
	endedAgo(t, tb, ok, 30*time.Minute)
	require.Equal(t, allClear, alerts(t, l))

	endedAgo(t, tb, ok, 2*time.Hour)
	a := alerts(t, l)
	require.Equal(t, []string{"2 MISSING HOURLY"}, codes(a))
	require.Contains(t, a[0].Text, "Last successful run ended ")

	// Failed runs since do not count as runs.
	failed := run(t, l, "hourly", 3)
	endedAgo(t, tb, failed, 10*time.Minute)
	require.Equal(t, []string{"2 MISSING HOURLY"}, codes(alerts(t, l)))

	endedAgo(t, tb, ok, 4*time.Hour)
	require.Equal(t, []string{"3 MISSING HOURLY"}, codes(alerts(t, l)))

	run(t, l, "hourly", 1)
	require.Equal(t, allClear, alerts(t, l))
}

func TestCheckRunningTooLong(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	_, pid := tb.backend(t)

	// Within its thresholds a running job is fine.
	setConfig(t, l, jobmon.CheckConfig{JobName: "long", Warn: time.Hour, Error: 2 * time.Hour, Active: true})
	firstOK := run(t, l, "long", 1)
	id, err := l.AddJob(jobmon.WithPID(ctx, pid), "long")
	require.NoError(t, err)
	require.Equal(t, allClear, alerts(t, l))

	// Past warn_threshold it is RUNNING at WARNING, past error_threshold at
	// CRITICAL (thresholds shortened instead of waiting an hour).
	setConfig(t, l, jobmon.CheckConfig{JobName: "long", Warn: 50 * time.Millisecond, Error: time.Hour, Active: true})
	waitAge(t, tb, id, 50*time.Millisecond)
	a := alerts(t, l)
	require.Equal(t, []string{"2 RUNNING LONG"}, codes(a))
	require.Regexp(t, `^Running since .*; last successful run ended `, a[0].Text)
	setConfig(t, l, jobmon.CheckConfig{JobName: "long", Warn: 50 * time.Millisecond, Error: 100 * time.Millisecond, Active: true})
	waitAge(t, tb, id, 100*time.Millisecond)
	require.Equal(t, []string{"3 RUNNING LONG"}, codes(alerts(t, l)))

	// A run whose backend is gone is not running: the job is MISSING.
	require.NoError(t, l.CloseJob(ctx, id))
	c, err := tb.Server.Connect(ctx, tb.DestDB)
	require.NoError(t, err)
	gonePID := c.PgConn().PID()
	require.NoError(t, c.Close(ctx))
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, tb.Dest, `SELECT 1 FROM pg_stat_activity WHERE pid = $1`, gonePID)) == 0
	}, 30*time.Second, 20*time.Millisecond)
	setConfig(t, l, jobmon.CheckConfig{JobName: "long", Warn: time.Hour, Error: 2 * time.Hour, Active: true})
	endedAgo(t, tb, firstOK, 100*time.Minute)
	endedAgo(t, tb, id, 90*time.Minute)
	_, err = l.AddJob(jobmon.WithPID(ctx, gonePID), "long")
	require.NoError(t, err)
	require.Equal(t, []string{"2 MISSING LONG"}, codes(alerts(t, l)))
}

func TestCheckBlocked(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	pgtest.MustExec(t, tb.Dest, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)`)
	setConfig(t, l, jobmon.CheckConfig{JobName: "blocked job", Warn: 50 * time.Millisecond, Error: time.Hour, Active: true})
	run(t, l, "blocked job", 1)

	// The test holds a row lock that the job's backend then waits for.
	holder, err := tb.Dest.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	var holderPID uint32
	require.NoError(t, holder.QueryRow(ctx, `SELECT pg_backend_pid() FROM t WHERE id = 1 FOR UPDATE`).Scan(&holderPID))

	conn, pid := tb.backend(t)
	id, err := l.AddJob(jobmon.WithPID(ctx, pid), "blocked job")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, `UPDATE t SET v = 1 WHERE id = 1`)
		done <- err
	}()
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, tb.Dest, `SELECT 1 FROM jobmon.job_log
			WHERE job_id = $1 AND cardinality(pg_blocking_pids(pid)) > 0`, id)) == 1
	}, 30*time.Second, 20*time.Millisecond)
	waitAge(t, tb, id, 50*time.Millisecond)

	a := alerts(t, l)
	require.Equal(t, []string{"2 BLOCKED BLOCKED JOB"}, codes(a))
	require.Regexp(t, fmt.Sprintf(`^Running since .*, waiting on a lock held by backend\(s\) %d$`, holderPID), a[0].Text)

	require.NoError(t, holder.Rollback(ctx))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the job stayed blocked")
	}
	require.Equal(t, []string{"2 RUNNING BLOCKED JOB"}, codes(alerts(t, l)))
	require.NoError(t, l.CloseJob(ctx, id))
	require.Equal(t, []string{"(1,1)"}, pgtest.Rows(t, tb.Dest, `SELECT * FROM t`))
	setConfig(t, l, jobmon.CheckConfig{JobName: "blocked job", Warn: time.Hour, Error: 2 * time.Hour, Active: true})
	require.Equal(t, allClear, alerts(t, l))
}

func TestCheckSensitivity(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	l := tb.log
	setConfig(t, l, jobmon.CheckConfig{JobName: "tolerant", Warn: 24 * time.Hour, Error: 48 * time.Hour, Active: true, Sensitivity: 3})
	setConfig(t, l, jobmon.CheckConfig{JobName: "strict", Warn: 24 * time.Hour, Error: 48 * time.Hour, Active: true})
	run(t, l, "tolerant", 1)
	run(t, l, "strict", 1)

	run(t, l, "strict", 3)
	require.Equal(t, []jobmon.Alert{{Code: 3, Status: "FAILED_RUN", JobName: "STRICT", Text: "1 failed run(s) in a row, the worst CRITICAL"}}, alerts(t, l))
	run(t, l, "strict", 1)

	for i := 0; i < 3; i++ {
		run(t, l, "tolerant", 3)
		require.Equal(t, allClear, alerts(t, l), "failure %d is within the sensitivity", i+1)
	}
	run(t, l, "tolerant", 3)
	require.Equal(t, []jobmon.Alert{{Code: 3, Status: "FAILED_RUN", JobName: "TOLERANT", Text: "4 failed run(s) in a row, the worst CRITICAL"}}, alerts(t, l))
}

func TestCheckEscalation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	setConfig(t, l, jobmon.CheckConfig{JobName: "escalating", Warn: 24 * time.Hour, Error: 48 * time.Hour, Active: true, Escalate: 2})
	setConfig(t, l, jobmon.CheckConfig{JobName: "steady", Warn: 24 * time.Hour, Error: 48 * time.Hour, Active: true})
	run(t, l, "escalating", 1)
	run(t, l, "steady", 1)

	w1 := run(t, l, "escalating", 2)
	run(t, l, "steady", 2)
	require.Equal(t, []string{"2 FAILED_RUN ESCALATING", "2 FAILED_RUN STEADY"}, codes(alerts(t, l)))

	// The second WARNING in a row reaches escalate = 2: raised to CRITICAL.
	w2 := run(t, l, "escalating", 2)
	run(t, l, "steady", 2)
	require.Equal(t, []jobmon.Alert{
		{Code: 3, Status: "FAILED_RUN", JobName: "ESCALATING", Text: "2 failed run(s) in a row, the worst CRITICAL"},
		{Code: 2, Status: "FAILED_RUN", JobName: "STEADY", Text: "2 failed run(s) in a row, the worst WARNING"},
	}, alerts(t, l))
	jobs, err := l.ShowJob(ctx, "escalating", 2)
	require.NoError(t, err)
	require.Equal(t, []string{"CRITICAL", "WARNING"}, []string{jobs[0].Status, jobs[1].Status})
	steps, err := l.ShowDetail(ctx, w2)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, []string{"ALERT ESCALATION", "CRITICAL", "Job alerted at level 2 2 times in a row (escalate = 2): alert level raised to 3"},
		[]string{steps[0].Action, steps[0].Status, steps[0].Message})

	// Once escalated it stays there (there is no higher level) until a success.
	w3 := run(t, l, "escalating", 2)
	require.Equal(t, []string{"3 FAILED_RUN ESCALATING", "2 FAILED_RUN STEADY"}, codes(alerts(t, l)))
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,ESCALATING,2)`, w1),
		fmt.Sprintf(`(%d,ESCALATING,3)`, w2),
		fmt.Sprintf(`(%d,ESCALATING,3)`, w3),
	}, pgtest.Rows(t, tb.Dest, `SELECT job_id, job_name, alert_code FROM jobmon.job_check_log WHERE job_name = 'ESCALATING'`))
	run(t, l, "escalating", 1)
	run(t, l, "steady", 1)
	require.Equal(t, allClear, alerts(t, l))
}

func TestCheckIgnoresInactiveConfig(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	// Inactive: thresholds, sensitivity 0 and escalation would all alert.
	setConfig(t, l, jobmon.CheckConfig{JobName: "dormant", Warn: time.Microsecond, Error: time.Microsecond, Active: false, Escalate: 1})
	require.Equal(t, allClear, alerts(t, l), "never run, but the config is inactive")

	id := run(t, l, "dormant", 2)
	require.Equal(t, allClear, alerts(t, l))
	steps, err := l.ShowDetail(ctx, id)
	require.NoError(t, err)
	require.Empty(t, steps, "no escalation")

	// The job falls under the default rule.
	run(t, l, "dormant", 2)
	run(t, l, "dormant", 2)
	require.Equal(t, []string{"2 FAILED_RUN DORMANT"}, codes(alerts(t, l)))

	require.NoError(t, l.DeleteCheckConfig(ctx, "dormant"))
	require.Equal(t, []string{"2 FAILED_RUN DORMANT"}, codes(alerts(t, l)))
}

func TestCheckOrdersWorstFirst(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	l := tb.log
	for _, name := range []string{"c job", "a job", "b job"} {
		setConfig(t, l, jobmon.CheckConfig{JobName: name, Warn: time.Hour, Error: 3 * time.Hour, Active: true})
	}
	endedAgo(t, tb, run(t, l, "a job", 1), 2*time.Hour) // WARNING missing
	run(t, l, "b job", 3)                               // CRITICAL failed (sensitivity 0) and missing
	run(t, l, "zz unconfigured", 3)
	run(t, l, "zz unconfigured", 3)
	run(t, l, "zz unconfigured", 3)
	require.Equal(t, []string{
		"3 FAILED_RUN B JOB",
		"3 MISSING B JOB",
		"3 MISSING C JOB",
		"3 FAILED_RUN ZZ UNCONFIGURED",
		"2 MISSING A JOB",
	}, codes(alerts(t, l)))
}

func TestCheckConfigValidation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		cfg   jobmon.CheckConfig
		field string
	}{
		{jobmon.CheckConfig{Warn: time.Hour, Error: time.Hour}, "CheckConfig.JobName"},
		{jobmon.CheckConfig{JobName: "x", Error: time.Hour}, "CheckConfig.Warn"},
		{jobmon.CheckConfig{JobName: "x", Warn: time.Hour}, "CheckConfig.Error"},
		{jobmon.CheckConfig{JobName: "x", Warn: time.Hour, Error: time.Hour, Sensitivity: -1}, "CheckConfig.Sensitivity"},
		{jobmon.CheckConfig{JobName: "x", Warn: time.Hour, Error: time.Hour, Escalate: -1}, "CheckConfig.Escalate"},
	} {
		err := tb.log.SetCheckConfig(ctx, c.cfg)
		var ce *jobmon.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, c.field, ce.Field)
	}
	require.Equal(t, []string{}, pgtest.Rows(t, tb.Dest, `SELECT * FROM jobmon.job_check_config`))
	setConfig(t, tb.log, jobmon.CheckConfig{JobName: "x", Warn: 90 * time.Minute, Error: 3 * time.Hour, Active: true, Sensitivity: 2, Escalate: 4})
	setConfig(t, tb.log, jobmon.CheckConfig{JobName: "X", Warn: 90 * time.Minute, Error: 4 * time.Hour, Active: true, Sensitivity: 2})
	require.Equal(t, []string{`(X,01:30:00,04:00:00,t,2,)`}, pgtest.Rows(t, tb.Dest, `SELECT * FROM jobmon.job_check_config`))
}
