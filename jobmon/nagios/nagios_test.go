package nagios_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/jobmon/nagios"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestLateJobs: a job falling behind goes WARNING past its lag_warning,
// CRITICAL past its lag_critical, and OK after a refresh, with its lag in
// the performance data; pg_jobmon's own rules are untouched.
func TestLateJobs(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.prices (sku text PRIMARY KEY, price numeric NOT NULL);
		INSERT INTO public.prices SELECT 'SKU-' || g, g FROM generate_series(1, 100) g`)
	log, err := jobmon.Open(ctx, b.DestDSN, nil)
	require.NoError(t, err)
	defer log.Close()
	require.NoError(t, log.Migrate(ctx))
	s, err := snapshot.New(b.Source, b.Dest, replication.T("public", "prices"), &snapshot.Config{Options: replication.Options{
		JobLog: log, Period: time.Hour, LagWarning: time.Second, LagCritical: 2500 * time.Millisecond}})
	require.NoError(t, err)
	require.NoError(t, s.Setup(ctx))

	check := func() (int, string) {
		code, lines := nagios.Check(ctx, nagios.Config{DSN: b.DestDSN})
		return code, lines[0]
	}
	perf := regexp.MustCompile(` 'lag public\.prices'=(\d+\.\d)s;1;2\.5;0$`)
	code, line := check()
	require.Equal(t, nagios.OK, code, line)
	require.True(t, strings.HasPrefix(line, "JOBMON OK - All jobs run successfully | "), line)
	require.Regexp(t, perf, line)
	require.Contains(t, line, " late=0;;;0 ")

	time.Sleep(1200 * time.Millisecond)
	code, line = check()
	require.Equal(t, nagios.Warning, code, line)
	require.Contains(t, line, "JOBMON WARNING - public.prices (LATE): data up to ")
	require.Contains(t, line, "old, past its warning 1s |")
	require.Contains(t, line, " warning=1;;;0 ")
	require.Contains(t, line, " late=1;;;0 ")

	time.Sleep(1500 * time.Millisecond)
	code, line = check()
	require.Equal(t, nagios.Critical, code, line)
	require.Contains(t, line, "JOBMON CRITICAL - public.prices (LATE): data up to ")
	require.Contains(t, line, "past its critical 2.5s")
	age := perf.FindStringSubmatch(line)
	require.NotNil(t, age, line)
	secs, err := strconv.ParseFloat(age[1], 64)
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 2.7)

	// A role that may read the job log but not the catalog: pg_jobmon's
	// rules still answer, and -v says why no lag was judged.
	role := b.CreateRole(t)
	who := replication.QuoteIdent(role.Name)
	pgtest.MustExec(t, b.Dest, `GRANT USAGE ON SCHEMA jobmon TO `+who+`; GRANT SELECT ON ALL TABLES IN SCHEMA jobmon TO `+who+`;
		GRANT EXECUTE ON FUNCTION jobmon.check_job_status() TO `+who)
	code, lines := nagios.Check(ctx, nagios.Config{DSN: b.DSN(b.DestDB, role), Verbose: true})
	require.Equal(t, nagios.OK, code, lines)
	require.Contains(t, strings.Join(lines, "\n"), `lag not checked: no SELECT on "mimeo"."jobs" (GRANT USAGE ON SCHEMA "mimeo" and SELECT ON "mimeo"."jobs" to this role)`)

	_, err = s.Refresh(ctx)
	require.NoError(t, err)
	code, line = check()
	require.Equal(t, nagios.OK, code, line)
	require.Regexp(t, perf, line)

	// A catalog from before the lag columns: pg_jobmon's rules still
	// answer, and -v says how to get the lag checked.
	pgtest.MustExec(t, b.Dest, `ALTER TABLE mimeo.jobs DROP COLUMN synced_at`)
	code, lines = nagios.Check(ctx, nagios.Config{DSN: b.DestDSN, Verbose: true})
	require.Equal(t, nagios.OK, code, lines)
	require.Contains(t, strings.Join(lines, "\n"), "predates the lag columns (run pgmimeo migrate")
}
