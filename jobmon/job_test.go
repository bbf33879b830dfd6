package jobmon_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestJobAndStepsAreLogged(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	id, err := l.AddJob(ctx, "Refresh Snap: public.Orders")
	require.NoError(t, err)
	s1, err := l.AddStep(ctx, id, "Pulling rows")
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("(%d,\"REFRESH SNAP: PUBLIC.ORDERS\",,f,f)", id)}, tb.jobRows(t))
	require.NoError(t, l.UpdateStep(ctx, s1, jobmon.StatusOK, "Rows pulled: 10"))
	s2, err := l.AddStep(ctx, id, "Swapping views")
	require.NoError(t, err)
	require.NoError(t, l.UpdateStep(ctx, s2, jobmon.StatusWarning, "took long"))
	require.NoError(t, l.CloseJob(ctx, id))

	require.Equal(t, []string{fmt.Sprintf("(%d,\"REFRESH SNAP: PUBLIC.ORDERS\",OK,t,f)", id)}, tb.jobRows(t))
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,%d,"Pulling rows",OK,"Rows pulled: 10",t)`, id, s1),
		fmt.Sprintf(`(%d,%d,"Swapping views",WARNING,"took long",t)`, id, s2),
	}, tb.stepRows(t))
	require.Equal(t, []string{"(postgres)"}, pgtest.Rows(t, tb.Dest, `SELECT owner FROM jobmon.job_log`))

	// Closing again leaves the job as it ended.
	require.NoError(t, l.FailJob(ctx, id, jobmon.LevelCritical))
	require.Equal(t, []string{fmt.Sprintf("(%d,\"REFRESH SNAP: PUBLIC.ORDERS\",OK,t,f)", id)}, tb.jobRows(t))
}

func TestFailJobLevelsAndStatusText(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	crit, err := l.AddJob(ctx, "crit job")
	require.NoError(t, err)
	require.NoError(t, l.FailJob(ctx, crit, 0)) // pg_jobmon's default level 3
	warn, err := l.AddJob(ctx, "warn job")
	require.NoError(t, err)
	require.NoError(t, l.FailJob(ctx, warn, jobmon.LevelWarning))

	// The status texts are editable; jobs ending later use the new text.
	pgtest.MustExec(t, tb.Dest, `UPDATE jobmon.job_status_text SET alert_text = 'PAGE' WHERE alert_code = 3`)
	paged, err := l.AddJob(ctx, "paged job")
	require.NoError(t, err)
	require.NoError(t, l.FailJob(ctx, paged, jobmon.LevelCritical))

	require.Equal(t, []string{
		fmt.Sprintf(`(%d,"CRIT JOB",CRITICAL,t,f)`, crit),
		fmt.Sprintf(`(%d,"WARN JOB",WARNING,t,f)`, warn),
		fmt.Sprintf(`(%d,"PAGED JOB",PAGE,t,f)`, paged),
	}, tb.jobRows(t))
	// Every failure is counted for check_job_status.
	require.Equal(t, []string{
		fmt.Sprintf(`(%d,"CRIT JOB",3)`, crit),
		fmt.Sprintf(`(%d,"WARN JOB",2)`, warn),
		fmt.Sprintf(`(%d,"PAGED JOB",3)`, paged),
	}, tb.checkLog(t))
}

func TestBadIDsAndLevels(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log

	_, err := l.AddStep(ctx, 4242, "x")
	require.ErrorIs(t, err, jobmon.ErrJobNotFound)
	require.ErrorIs(t, l.UpdateStep(ctx, 4242, "OK", "x"), jobmon.ErrStepNotFound)
	require.ErrorIs(t, l.CloseJob(ctx, 4242), jobmon.ErrJobNotFound)
	require.ErrorIs(t, l.FailJob(ctx, 4242, 3), jobmon.ErrJobNotFound)
	_, err = l.AddJob(ctx, "  ")
	require.ErrorIs(t, err, jobmon.ErrBadConfig)

	id, err := l.AddJob(ctx, "levels")
	require.NoError(t, err)
	err = l.FailJob(ctx, id, 7)
	require.ErrorIs(t, err, jobmon.ErrUnknownLevel)
	require.ErrorContains(t, err, "level 7")
	// Nothing was changed by the refused call.
	require.Equal(t, []string{fmt.Sprintf(`(%d,LEVELS,,f,f)`, id)}, tb.jobRows(t))
	require.Equal(t, []string{}, tb.stepRows(t))
}

// The log is written through the logger's own connections, so the rollback
// of the caller's transaction leaves it in place: the failed job and all its
// steps, as a replicator leaves them through replication.JobRun.
func TestLogSurvivesCallerRollback(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	pgtest.MustExec(t, tb.Dest, `CREATE TABLE orders (id int PRIMARY KEY, note text)`)

	tx, err := tb.Dest.Begin(ctx)
	require.NoError(t, err)
	run := replication.StartJob(ctx, l, nil, replication.JobName("Refresh Snap", replication.T("public", "orders")))
	run.Step(ctx, "Copying rows")
	tag, err := tx.Exec(ctx, `INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 5) g`)
	require.NoError(t, err)
	run.Done(ctx, "Rows copied: %d", tag.RowsAffected())
	run.Step(ctx, "Swapping")
	_, failure := tx.Exec(ctx, `INSERT INTO orders VALUES (1, 'duplicate')`)
	require.Error(t, failure)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, failure, run.Finish(ctx, failure))

	require.Equal(t, []string{}, pgtest.Rows(t, tb.Dest, `SELECT * FROM orders`))
	id := run.ID()
	require.Equal(t, []string{fmt.Sprintf(`(%d,"REFRESH SNAP: PUBLIC.ORDERS",CRITICAL,t,f)`, id)}, tb.jobRows(t))
	steps, err := l.ShowDetail(ctx, id)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, []string{"Copying rows", "OK", "Rows copied: 5"}, []string{steps[0].Action, steps[0].Status, steps[0].Message})
	require.Equal(t, []string{"Swapping", "CRITICAL", "ERROR: " + failure.Error()}, []string{steps[1].Action, steps[1].Status, steps[1].Message})

	// The same with the Logger called directly inside a transaction that a
	// rollback undoes.
	tx, err = tb.Dest.Begin(ctx)
	require.NoError(t, err)
	id2, err := l.AddJob(ctx, "direct")
	require.NoError(t, err)
	step, err := l.AddStep(ctx, id2, "insert")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO orders VALUES (9, 'x')`)
	require.NoError(t, err)
	require.NoError(t, l.UpdateStep(ctx, step, jobmon.StatusOK, "1 row"))
	require.NoError(t, l.CloseJob(ctx, id2))
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, []string{}, pgtest.Rows(t, tb.Dest, `SELECT * FROM orders`))
	require.Contains(t, tb.jobRows(t), fmt.Sprintf(`(%d,DIRECT,OK,t,f)`, id2))
	require.Contains(t, tb.stepRows(t), fmt.Sprintf(`(%d,%d,insert,OK,"1 row",t)`, id2, step))
}

// A run skipped because another refresh holds the lock is a WARNING job.
func TestSkippedRunIsWarning(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	replication.Skipped(ctx, tb.log, nil, replication.JobName("Refresh Snap", replication.T("public", "orders")), replication.ErrLocked)
	jobs, err := tb.log.ShowJob(ctx, "refresh snap: public.orders", 0)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, "WARNING", jobs[0].Status)
	steps, err := tb.log.ShowDetail(ctx, jobs[0].ID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, []string{"WARNING", "Run skipped: " + replication.ErrLocked.Error()}, []string{steps[0].Status, steps[0].Message})
	require.Equal(t, []string{fmt.Sprintf(`(%d,"REFRESH SNAP: PUBLIC.ORDERS",2)`, jobs[0].ID)}, tb.checkLog(t))
}

func TestMissingSchemaIsTyped(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	l, err := jobmon.Open(ctx, b.DestDSN, &jobmon.Config{Schema: "not here"})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.AddJob(ctx, "x")
	require.ErrorIs(t, err, jobmon.ErrSchemaMissing)
	var se *jobmon.SchemaError
	require.True(t, errors.As(err, &se))
	require.Equal(t, "not here", se.Schema)
	_, err = l.CheckJobStatus(ctx)
	require.ErrorIs(t, err, jobmon.ErrSchemaMissing)
	require.ErrorContains(t, err, "Migrate")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		cfg   jobmon.Config
		field string
	}{
		{jobmon.Config{Schema: string(make([]byte, 64))}, "Config.Schema"},
		{jobmon.Config{Schema: "a\x00b"}, "Config.Schema"},
		{jobmon.Config{MaxConns: -1}, "Config.MaxConns"},
	} {
		_, err := jobmon.Open(ctx, b.DestDSN, &c.cfg)
		var ce *jobmon.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, c.field, ce.Field)
		require.ErrorIs(t, err, jobmon.ErrBadConfig)
	}
	_, err := jobmon.New(nil, nil)
	require.ErrorIs(t, err, jobmon.ErrBadConfig)

	// A connection string with a password never shows it in errors.
	_, err = jobmon.Open(ctx, "postgres://u:s3cr3tpw@127.0.0.1:1/db?connect_timeout=2&sslmode=disable", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3tpw")
	_, err = jobmon.Open(ctx, "host=127.0.0.1 port=notaport password=s3cr3tpw", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3tpw")
}

// A schema name that needs quoting works everywhere, and Migrate may run
// again and concurrently.
func TestQuotedSchemaAndRepeatedMigrate(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	l, err := jobmon.New(b.Dest, &jobmon.Config{Schema: `Job "Mon"-x`})
	require.NoError(t, err)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- l.Migrate(ctx) }()
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, <-errs)
	}
	id, err := l.AddJob(ctx, "quoted")
	require.NoError(t, err)
	require.NoError(t, l.CloseJob(ctx, id))
	require.Equal(t, []string{fmt.Sprintf(`(%d,QUOTED,OK)`, id)},
		pgtest.Rows(t, b.Dest, `SELECT job_id, job_name, status FROM "Job ""Mon""-x".job_log`))
	alerts, err := l.CheckJobStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, []jobmon.Alert{{Code: 1, Status: "OK", Text: "All jobs run successfully"}}, alerts)
}

// Migrate refuses a schema that already holds pg_jobmon-like tables of
// someone else, and leaves it as it was.
func TestMigrateRefusesForeignTables(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA theirs; CREATE TABLE theirs.job_log (job_id bigint)`)
	l, err := jobmon.New(b.Dest, &jobmon.Config{Schema: "theirs"})
	require.NoError(t, err)
	err = l.Migrate(ctx)
	require.ErrorContains(t, err, "another Config.Schema")
	require.Equal(t, []string{"(job_log)"}, pgtest.Rows(t, b.Dest,
		`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'theirs'`))
}

// The logger's connections may be terminated (by a DBA, a pooler, a
// failover): the next writes go through fresh connections, each exactly once.
func TestLogWritesSurviveTerminatedConnections(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	l := tb.log
	require.Equal(t, "jobmon", l.Schema())

	terminate := func() {
		// Every connection of the logger's pool is killed.
		pgtest.MustExec(t, tb.Dest, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'pgmimeo jobmon' AND datname = current_database()`)
		require.Eventually(t, func() bool {
			return len(pgtest.Rows(t, tb.Dest, `SELECT 1 FROM pg_stat_activity
				WHERE application_name = 'pgmimeo jobmon' AND datname = current_database()`)) == 0
		}, 30*time.Second, 20*time.Millisecond)
	}

	id, err := l.AddJob(ctx, "resilient")
	require.NoError(t, err)
	terminate()
	step, err := l.AddStep(ctx, id, "after terminate")
	require.NoError(t, err)
	terminate()
	require.NoError(t, l.UpdateStep(ctx, step, jobmon.StatusOK, "done"))
	terminate()
	require.NoError(t, l.CloseJob(ctx, id))
	terminate()
	id2, err := l.AddJob(ctx, "resilient")
	require.NoError(t, err)
	terminate()
	_, err = l.CancelJob(ctx, id2)
	require.NoError(t, err)
	terminate()
	alerts, err := l.CheckJobStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, []jobmon.Alert{{Code: 1, Status: "OK", Text: "All jobs run successfully"}}, alerts)

	require.Equal(t, []string{
		fmt.Sprintf(`(%d,RESILIENT,OK,t,f)`, id),
		fmt.Sprintf(`(%d,RESILIENT,CRITICAL,t,f)`, id2),
	}, tb.jobRows(t))
	steps := tb.stepRows(t)
	require.Len(t, steps, 2)
	require.Equal(t, fmt.Sprintf(`(%d,%d,"after terminate",OK,done,t)`, id, step), steps[0])
	require.Regexp(t, fmt.Sprintf(`^\(%d,\d+,CANCEL,CRITICAL,"Manually cancelled by postgres through jobmon CancelJob: no live backend of the job to signal",t\)$`, id2), steps[1])
}
