package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A service that ensures its jobs at every start, restarted ten times
// (each a new process): each job was made once, no run failed, and the
// nagios plugin says OK; the jobs replicate.
func TestRestartLoopLeavesCheckOK(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "service")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	plugin := filepath.Join(t.TempDir(), "check_job_status")
	out, err = exec.Command("go", "build", "-o", plugin, "../../jobmon/cmd/check_job_status").CombinedOutput()
	require.NoError(t, err, "%s", out)

	for i := range 10 {
		out, err := exec.Command(bin, "-source", b.SourceDSN, "-dest", b.DestDSN, "-demo").CombinedOutput()
		require.NoError(t, err, "start %d: %s", i, out)
		if i == 0 {
			require.Equal(t, 3, strings.Count(string(out), "created true"), "%s", out)
		} else {
			require.Equal(t, 3, strings.Count(string(out), "created false, changed []"), "start %d: %s", i, out)
		}
	}
	require.Equal(t, []string{"(\"DML MAKER: PUBLIC.SERVICE_ORDERS\",OK)", "(\"INSERTER MAKER: PUBLIC.SERVICE_EVENTS\",OK)",
		"(\"SNAPSHOT MAKER: PUBLIC.SERVICE_PRICES\",OK)"},
		pgtest.Rows(t, b.Dest, `SELECT job_name, status FROM jobmon.job_log ORDER BY job_name`))
	out, err = exec.Command(plugin, "-d", b.DestDSN).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasPrefix(string(out), "JOBMON OK - "), "%s", out)

	for _, m := range []replication.Method{snapshot.Method, incremental.Method, dml.Method} {
		dest := map[string]replication.Table{"snapshot": replication.T("public", "service_prices"),
			"incremental": replication.T("public", "service_events"), "dml": replication.T("public", "service_orders")}[m.Name]
		r, err := m.Open(ctx, b.Source, b.Dest, dest, replication.Options{})
		require.NoError(t, err)
		_, err = r.Refresh(ctx)
		require.NoError(t, err)
		q := "SELECT * FROM " + dest.Sanitize() + " ORDER BY 1"
		require.Equal(t, pgtest.Rows(t, b.Source, q), pgtest.Rows(t, b.Dest, q), "%s", dest)
	}
}
