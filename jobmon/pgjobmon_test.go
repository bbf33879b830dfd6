package jobmon_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// pgJobmonTables reproduces the tables of the pg_jobmon 1.x extension and
// their constraints (job_log.pid NOT NULL among them), as a user who
// already runs pg_jobmon has them.
const pgJobmonTables = `
CREATE SCHEMA jobmon_ext;
SET search_path = jobmon_ext;
CREATE TABLE job_log (
    job_id bigserial NOT NULL,
    owner text NOT NULL,
    job_name text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    status text,
    pid integer NOT NULL,
    CONSTRAINT job_log_job_id_pkey PRIMARY KEY (job_id)
);
CREATE INDEX job_log_job_name_idx ON job_log (job_name);
CREATE INDEX job_log_start_time_idx ON job_log (start_time);
CREATE INDEX job_log_status_idx ON job_log (status);
CREATE INDEX job_log_pid_idx ON job_log (pid);
CREATE TABLE job_detail (
    job_id bigint NOT NULL,
    step_id bigserial NOT NULL,
    action text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    elapsed_time real,
    status text,
    message text,
    CONSTRAINT job_detail_step_id_pkey PRIMARY KEY (step_id),
    CONSTRAINT job_detail_job_id_fkey FOREIGN KEY (job_id) REFERENCES job_log (job_id) ON DELETE CASCADE
);
CREATE INDEX job_detail_job_id_idx ON job_detail (job_id);
CREATE TABLE job_check_log (
    job_id bigint NOT NULL,
    job_name text NOT NULL,
    alert_code int DEFAULT 3 NOT NULL
);
CREATE TABLE job_check_config (
    job_name text NOT NULL,
    warn_threshold interval NOT NULL,
    error_threshold interval NOT NULL,
    active boolean DEFAULT false NOT NULL,
    sensitivity smallint DEFAULT 0 NOT NULL,
    escalate int,
    CONSTRAINT job_check_config_job_name_pkey PRIMARY KEY (job_name)
);
CREATE TABLE job_status_text (
    alert_code integer NOT NULL,
    alert_text text NOT NULL,
    CONSTRAINT job_status_text_alert_code_pkey PRIMARY KEY (alert_code)
);
INSERT INTO job_status_text (alert_code, alert_text) VALUES (1, 'OK'), (2, 'WARNING'), (3, 'CRITICAL');
`

// TestPgJobmonTables points the logger at pg_jobmon's own tables: jobs
// logged without a known backend (AddJob without WithPID) are recorded
// with pid 0, every kind's jobs (makers and destroyers included) with the
// backend that ran them, and a write that fails anyway is reported through
// the logger, never dropped in silence.
//
// Not parallel: it swaps slog's default logger for a while.
func TestPgJobmonTables(t *testing.T) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	conn, err := b.Server.Connect(ctx, b.DestDB)
	require.NoError(t, err)
	pgtest.MustExec(t, conn, pgJobmonTables)
	require.NoError(t, conn.Close(ctx))
	log, err := jobmon.New(b.Dest, &jobmon.Config{Schema: "jobmon_ext"})
	require.NoError(t, err)

	id, err := log.AddJob(ctx, "plain job")
	require.NoError(t, err)
	require.NoError(t, log.CloseJob(ctx, id))

	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	pgtest.MustExec(t, b.Source, `CREATE TABLE s (id int PRIMARY KEY, v text); INSERT INTO s SELECT g, 'v' FROM generate_series(1, 10) g`)
	snap, err := snapshot.New(b.Source, b.Dest, replication.T("public", "s"), &snapshot.Config{Options: replication.Options{JobLog: log, Logger: logger}})
	require.NoError(t, err)
	require.NoError(t, snap.Setup(ctx))
	_, err = snap.Refresh(ctx)
	require.NoError(t, err)
	require.NoError(t, snap.Destroy(ctx, nil))
	require.NotContains(t, out.String(), "job log write failed")

	require.Equal(t, []string{
		"(\"PLAIN JOB\",OK,t)",
		"(\"REFRESH SNAP: PUBLIC.S\",OK,f)",
		"(\"SNAPSHOT DESTROYER: PUBLIC.S\",OK,f)",
		"(\"SNAPSHOT MAKER: PUBLIC.S\",OK,f)",
	}, pgtest.Rows(t, b.Dest, `SELECT job_name, status, pid = 0 FROM jobmon_ext.job_log`))

	// A write that fails is reported through the configured logger.
	pgtest.MustExec(t, b.Dest, `ALTER TABLE jobmon_ext.job_detail ADD CONSTRAINT no_steps CHECK (action = 'never') NOT VALID`)
	run := replication.StartJob(ctx, log, logger, "failing steps")
	run.Step(ctx, "a step")
	require.NoError(t, run.Finish(ctx, nil))
	require.Contains(t, out.String(), `msg="job log write failed" job="failing steps" op="add step"`)
	require.Contains(t, out.String(), "no_steps")

	// Without a configured logger it goes to slog's default logger.
	var def bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer slog.SetDefault(prev)
	run = replication.StartJob(ctx, log, nil, "failing again")
	run.Step(ctx, "a step")
	require.NoError(t, run.Finish(ctx, nil))
	require.Contains(t, def.String(), `msg="job log write failed" job="failing again" op="add step"`)
}
