package jobmon_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Replicators log through replication.JobLog; the Logger is one.
var _ replication.JobLog = (*jobmon.Logger)(nil)

type testBundle struct {
	*pgtest.Bundle
	log *jobmon.Logger
}

// setup gives the test a destination database with the job log schema and
// a Logger on a pool of its own.
func setup(t testing.TB) *testBundle {
	t.Helper()
	b := pgtest.Setup(t)
	l, err := jobmon.Open(context.Background(), b.DestDSN, nil)
	require.NoError(t, err)
	t.Cleanup(l.Close)
	require.NoError(t, l.Migrate(context.Background()))
	return &testBundle{Bundle: b, log: l}
}

// jobRows returns job_log as text rows: id, name, status, ended, pid set.
func (tb *testBundle) jobRows(t *testing.T) []string {
	return pgtest.Rows(t, tb.Dest, `SELECT job_id, job_name, status, end_time IS NOT NULL AS ended, pid <> 0 AS has_pid
		FROM jobmon.job_log`)
}

// stepRows returns job_detail as text rows: job, action, status, message,
// ended.
func (tb *testBundle) stepRows(t *testing.T) []string {
	return pgtest.Rows(t, tb.Dest, `SELECT job_id, step_id, action, status, message, end_time IS NOT NULL AND elapsed_time >= 0 AS ended
		FROM jobmon.job_detail`)
}

// checkLog returns job_check_log as text rows.
func (tb *testBundle) checkLog(t *testing.T) []string {
	return pgtest.Rows(t, tb.Dest, `SELECT job_id, job_name, alert_code FROM jobmon.job_check_log`)
}

// backend holds a destination connection until the test ends and returns
// it with its backend's pid, for a job that runs in that backend.
func (tb *testBundle) backend(t *testing.T) (*pgxpool.Conn, uint32) {
	t.Helper()
	conn, err := tb.Dest.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	return conn, conn.Conn().PgConn().PID()
}

// pgtestRows is pgtest.Rows on the destination database.
func pgtestRows(t *testing.T, tb *testBundle, query string, args ...any) []string {
	return pgtest.Rows(t, tb.Dest, query, args...)
}

// grantJobmon lets role use the job log schema of tb.
func grantJobmon(t *testing.T, tb *testBundle, role string) {
	r := pgx.Identifier{role}.Sanitize()
	pgtest.MustExec(t, tb.Dest, `GRANT USAGE ON SCHEMA jobmon TO `+r+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA jobmon TO `+r+`;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA jobmon TO `+r)
}

// A connection string that cannot be used as given shows no part of its
// password: a raw '@' in a URL's password would otherwise leave the rest of
// the password in the error as a host name.
func TestOpenShowsNoPartOfThePassword(t *testing.T) {
	ctx := context.Background()
	for _, s := range []string{
		"postgres://logger:S3cr@tPart@127.0.0.1:1/db",
		"postgres://logger:S3cr%zztPart@127.0.0.1:1/db",
		"host=127.0.0.1 port=nope password=S3crtPart",
	} {
		_, err := jobmon.Open(ctx, s, nil)
		require.Error(t, err, s)
		require.NotContains(t, err.Error(), "tPart", s)
		require.NotContains(t, err.Error(), "S3cr", s)
	}
}
