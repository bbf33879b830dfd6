package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// requireDemoEqual requires the demo report to show every job's
// destination equal to its source.
func requireDemoEqual(t *testing.T, out string) {
	t.Helper()
	require.Equal(t, 3, strings.Count(out, "equal: true"), out)
	require.NotContains(t, out, "equal: false")
	require.Contains(t, out, "Removed the demo jobs and tables")
}

// The worker runs the demo jobs on given databases for a while, stops,
// catches up once, and every destination holds its source's rows. It runs
// for 4 s, a second more than the longest job period (the table's 3 s),
// so that every job is due again while it runs.
func TestWorkerRunsDemoJobs(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-dest", b.DestDSN, "-demo-source", b.SourceDSN, "-for", "4s", "-poll", "100ms"}, &out, &errOut)
	require.NoError(t, err, "%s\n%s", out.String(), errOut.String())
	requireDemoEqual(t, out.String())
	// The worker refreshed each job on its own before the last round.
	for _, name := range []string{"REFRESH SNAP: PUBLIC.WORKER_PRICES", "REFRESH TABLE: PUBLIC.WORKER_STORES", "REFRESH INSERTER: PUBLIC.WORKER_SALES"} {
		require.GreaterOrEqual(t, len(pgtest.Rows(t, b.Dest, `SELECT job_id FROM jobmon.job_log WHERE job_name = $1 AND status = 'OK'`, name)), 2, name)
	}
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relname LIKE 'worker%'`))
}

// A JSON file configures the worker; flags override it.
func TestWorkerConfigFile(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	file := filepath.Join(t.TempDir(), "worker.json")
	require.NoError(t, os.WriteFile(file, []byte(`{
		"dest": "`+b.DestDSN+`",
		"demo_source": "`+b.SourceDSN+`",
		"once": true,
		"concurrency": 1,
		"backoff": "1m",
		"jobmon_schema": "-"
	}`), 0o600))
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-config", file, "-concurrency", "3"}, &out, &errOut)
	require.NoError(t, err, "%s\n%s", out.String(), errOut.String())
	require.Contains(t, out.String(), "running the jobs due now (concurrency 3)")
	requireDemoEqual(t, out.String())
	// No job log was asked for.
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT nspname FROM pg_namespace WHERE nspname = 'jobmon'`))

	require.NoError(t, os.WriteFile(file, []byte(`{"dest": "x", "colour": "blue"}`), 0o600))
	require.ErrorContains(t, run(context.Background(), []string{"-config", file}, io.Discard, io.Discard), `unknown field "colour"`)
	require.ErrorContains(t, run(context.Background(), []string{"-source", "nameless"}, io.Discard, io.Discard), "give name=DSN")
	require.ErrorContains(t, run(context.Background(), []string{"-demo-source", b.SourceDSN}, io.Discard, io.Discard), "needs -dest")
}

// The built worker stops on SIGTERM: it lets its refreshes finish, reports
// and exits 0.
func TestWorkerStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	cmd := exec.Command(bin, "-dest", b.DestDSN, "-demo-source", b.SourceDSN, "-poll", "100ms", "-grace", "20s")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()
	lines := bufio.NewScanner(stdout)
	var seen strings.Builder
	for lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "stop it with Ctrl-C or SIGTERM") {
			break
		}
	}
	// Once it has run a few refreshes, stop it.
	require.Eventually(t, func() bool {
		return len(pgtest.Rows(t, b.Dest, `SELECT job_id FROM jobmon.job_log WHERE job_name LIKE 'REFRESH %' AND status = 'OK'`)) >= 3
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	seen.Write(rest)
	require.NoError(t, cmd.Wait(), "%s\n%s", seen.String(), stderr.String())
	require.Contains(t, seen.String(), "stopped.")
	requireDemoEqual(t, seen.String())
}
