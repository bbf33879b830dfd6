package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example sets up the job log, a job, thresholds and a read-only role,
// writes the Nagios definitions, and runs the plugin: OK, then CRITICAL
// after three failures; it leaves only the job log behind.
func TestNagiosSetup(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	dir := t.TempDir()
	role := fmt.Sprintf("nagios_test_%d", time.Now().UnixNano())
	var out bytes.Buffer
	err := run(context.Background(), []string{"-source", b.SourceDSN, "-dest", b.DestDSN, "-role", role, "-out", dir}, &out)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "JOBMON OK - All jobs run successfully")
	require.Contains(t, out.String(), "(exit 0)")
	require.Contains(t, out.String(), "JOBMON CRITICAL - REFRESH SNAP: PUBLIC.NAGIOS_ORDERS (FAILED_RUN): 3 failed run(s) in a row")
	require.Contains(t, out.String(), "(exit 2)")
	require.NotContains(t, out.String(), b.Server.Password)

	cmd, err := os.ReadFile(filepath.Join(dir, "pgmimeo-commands.cfg"))
	require.NoError(t, err)
	require.Contains(t, string(cmd), "command_name    check_pgmimeo_jobs")
	svc, err := os.ReadFile(filepath.Join(dir, "pgmimeo-services.cfg"))
	require.NoError(t, err)
	require.Contains(t, string(svc), "check_command           check_pgmimeo_jobs!postgres://"+role+"@")
	require.Contains(t, string(svc), "/"+b.DestDB+"?sslmode=disable!jobmon")

	// The role, the job and the source table are gone; the log stays.
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT rolname FROM pg_roles WHERE rolname = $1`, role))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relname LIKE 'nagios%'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relname LIKE 'nagios%'`))
	require.Equal(t, []string{`("REFRESH SNAP: PUBLIC.NAGIOS_ORDERS",CRITICAL,3)`, `("REFRESH SNAP: PUBLIC.NAGIOS_ORDERS",OK,1)`,
		`("SNAPSHOT DESTROYER: PUBLIC.NAGIOS_ORDERS",OK,1)`, `("SNAPSHOT MAKER: PUBLIC.NAGIOS_ORDERS",OK,1)`}, pgtest.Rows(t, b.Dest,
		`SELECT job_name, status, count(*) FROM jobmon.job_log WHERE job_name LIKE '%: PUBLIC.NAGIOS_ORDERS' GROUP BY 1, 2`))
}
