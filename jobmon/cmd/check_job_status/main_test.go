package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// buildPlugin builds the plugin binary into a temporary directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "check_job_status")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// plugin runs the binary with args and extra environment (and no other PG*
// variables) and returns its exit code and output: standard output, then
// standard error after a marker line.
func plugin(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := stdout.String() + "\n--- stderr ---\n" + stderr.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out
	}
	require.NoError(t, err)
	return 0, out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// pgEnv returns the PG* variables equivalent to a URL DSN.
func pgEnv(t *testing.T, dsn string) []string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	return []string{
		"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(), "PGUSER=" + u.User.Username(),
		"PGPASSWORD=" + pw, "PGDATABASE=" + strings.TrimPrefix(u.Path, "/"), "PGSSLMODE=disable",
	}
}

// withPort returns dsn with another port.
func withPort(t *testing.T, dsn string, port int) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	return u.String()
}

// withPassword returns dsn with another password.
func withPassword(t *testing.T, dsn, password string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func TestPluginScenarios(t *testing.T) {
	bin := buildPlugin(t)
	b := pgtest.Setup(t)
	ctx := context.Background()
	l, err := jobmon.Open(ctx, b.DestDSN, nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.Migrate(ctx))
	password := b.Server.Password
	require.NotEmpty(t, password)

	end := func(name string, level int) {
		id, err := l.AddJob(ctx, name)
		require.NoError(t, err)
		if level == 1 {
			require.NoError(t, l.CloseJob(ctx, id))
		} else {
			require.NoError(t, l.FailJob(ctx, id, level))
		}
	}

	// OK: nothing wrong; the connection from --dsn.
	end("nightly load", 1)
	code, out := plugin(t, bin, nil, "--dsn", b.DestDSN)
	require.Equal(t, 0, code, out)
	require.Equal(t, "JOBMON OK - All jobs run successfully | critical=0;;;0 warning=0;;;0 failed_run=0;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0 late=0;;;0", firstLine(out))

	// WARNING: three warnings in a row; the connection from PG* variables.
	end("refresh snap: public.orders", 2)
	end("refresh snap: public.orders", 2)
	end("refresh snap: public.orders", 2)
	code, out = plugin(t, bin, pgEnv(t, b.DestDSN))
	require.Equal(t, 1, code, out)
	require.Equal(t, "JOBMON WARNING - REFRESH SNAP: PUBLIC.ORDERS (FAILED_RUN): 3 failed run(s) in a row, the worst WARNING | critical=0;;;0 warning=1;;;0 failed_run=1;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0 late=0;;;0", firstLine(out))

	// CRITICAL: the worst jobs first, then every other problem job.
	end("nightly load", 3)
	end("nightly load", 3)
	end("nightly load", 3)
	require.NoError(t, l.SetCheckConfig(ctx, jobmon.CheckConfig{JobName: "hourly", Warn: time.Hour, Error: 2 * time.Hour, Active: true}))
	code, out = plugin(t, bin, nil, "--dsn", b.DestDSN, "--schema", "jobmon")
	require.Equal(t, 2, code, out)
	require.Equal(t, "JOBMON CRITICAL - HOURLY (MISSING): No successful run recorded; "+
		"NIGHTLY LOAD (FAILED_RUN): 3 failed run(s) in a row, the worst CRITICAL; "+
		"REFRESH SNAP: PUBLIC.ORDERS (FAILED_RUN): 3 failed run(s) in a row, the worst WARNING"+
		" | critical=2;;;0 warning=1;;;0 failed_run=2;;;0 missing=1;;;0 running=0;;;0 blocked=0;;;0 late=0;;;0", firstLine(out))

	// UNKNOWN: the schema is missing.
	code, out = plugin(t, bin, pgEnv(t, b.DestDSN), "--schema", "no_such_schema")
	require.Equal(t, 3, code, out)
	require.Equal(t, `JOBMON UNKNOWN - job log schema "no_such_schema" not found in database "`+b.DestDB+
		`" (create it with jobmon's Logger.Migrate, or pass --schema)`, firstLine(out))
	require.NotContains(t, out, password)
	code, out = plugin(t, bin, nil, "--dsn", b.SourceDSN)
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), `JOBMON UNKNOWN - job log schema "jobmon" not found`), out)
	require.NotContains(t, out, password)

	// UNKNOWN: the server cannot be reached (nothing listens on the port).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	unreachable := withPort(t, b.DestDSN, port)
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--dsn", unreachable}},
		{pgEnv(t, unreachable), nil},
	} {
		code, out = plugin(t, bin, c.env, c.args...)
		require.Equal(t, 3, code, out)
		require.True(t, strings.HasPrefix(firstLine(out), "JOBMON UNKNOWN - cannot connect to the database: "), out)
		require.NotContains(t, out, password)
	}

	// UNKNOWN: a server that accepts connections but never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	code, out = plugin(t, bin, nil, "--timeout", "500ms", "--dsn", withPort(t, b.DestDSN, silent.Addr().(*net.TCPAddr).Port))
	require.Equal(t, 3, code, out)
	require.Equal(t, "JOBMON UNKNOWN - no answer from the database within 500ms", firstLine(out))

	// UNKNOWN: a wrong password, which is not echoed either.
	code, out = plugin(t, bin, nil, "--dsn", withPassword(t, b.DestDSN, "Wr0ngPassw0rd"))
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), "JOBMON UNKNOWN - cannot connect to the database: "), out)
	require.Contains(t, out, "password authentication failed")
	require.NotContains(t, out, "Wr0ngPassw0rd")

	// UNKNOWN: bad arguments and unparsable settings.
	code, out = plugin(t, bin, nil, "--no-such-flag")
	require.Equal(t, 3, code, out)
	require.Equal(t, "JOBMON UNKNOWN - flag provided but not defined: -no-such-flag (see --help)", firstLine(out))
	code, out = plugin(t, bin, nil, "--dsn", "host=localhost port=notaport password=Sup3rSecret")
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), "JOBMON UNKNOWN - bad connection settings: "), out)
	require.NotContains(t, out, "Sup3rSecret")

	// A password with a raw '@' in a URL: nothing of it is shown.
	code, out = plugin(t, bin, nil, "--dsn", "postgres://someone:S3cr@tPart@127.0.0.1:5432/db")
	require.Equal(t, 3, code, out)
	require.Equal(t, "JOBMON UNKNOWN - bad connection settings: cannot parse the connection string postgres://someone:xxxxx@127.0.0.1:5432/db: "+
		"check its syntax (in a URL, percent-encode @, :, / and # in the user name and password)", firstLine(out))
	require.NotContains(t, out, "tPart")
	require.NotContains(t, out, "S3cr")

	// Redaction by field: a password that is part of the user name
	// neither mangles the name nor is shown.
	u, err := url.Parse(b.DestDSN)
	require.NoError(t, err)
	u.User = url.UserPassword("worker", "work")
	code, out = plugin(t, bin, nil, "--dsn", u.String())
	require.Equal(t, 3, code, out)
	require.Contains(t, firstLine(out), "user=worker ")
	require.Contains(t, firstLine(out), `password authentication failed for user "worker"`)
	require.NotContains(t, out, "xxxxx")
}

// TestPluginConventions checks the monitoring-plugins conventions: help and
// version on standard output, -t in whole seconds, -v, short options.
func TestPluginConventions(t *testing.T) {
	bin := buildPlugin(t)
	b := pgtest.Setup(t)
	ctx := context.Background()
	l, err := jobmon.Open(ctx, b.DestDSN, nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.Migrate(ctx))

	for _, flag := range []string{"-h", "--help"} {
		code, out := plugin(t, bin, nil, flag)
		require.Equal(t, 3, code, out)
		stdout, stderr, _ := strings.Cut(out, "\n--- stderr ---\n")
		require.True(t, strings.HasPrefix(stdout, "Usage: check_job_status "), stdout)
		require.Contains(t, stdout, "-t, --timeout SECONDS")
		require.Contains(t, stdout, "Example:")
		require.Empty(t, stderr)
	}
	for _, flag := range []string{"-V", "--version"} {
		code, out := plugin(t, bin, nil, flag)
		require.Equal(t, 3, code, out)
		require.True(t, strings.HasPrefix(firstLine(out), "check_job_status (pgmimeo) "), out)
	}

	id, err := l.AddJob(ctx, "nightly load")
	require.NoError(t, err)
	require.NoError(t, l.FailJob(ctx, id, 2))
	for _, args := range [][]string{
		{"-d", b.DestDSN, "-t", "5"},
		{"--dsn", b.DestDSN, "--timeout", "5"},
		{"-d", b.DestDSN, "-s", "jobmon", "-t", "5s"},
	} {
		code, out := plugin(t, bin, nil, args...)
		require.Equal(t, 0, code, "one warning is not yet an alert: %s", out)
		require.True(t, strings.HasPrefix(firstLine(out), "JOBMON OK - "), out)
	}
	for i := 0; i < 2; i++ {
		id, err := l.AddJob(ctx, "nightly load")
		require.NoError(t, err)
		require.NoError(t, l.FailJob(ctx, id, 2))
	}
	code, out := plugin(t, bin, nil, "-d", b.DestDSN, "-v")
	require.Equal(t, 1, code, out)
	lines := strings.Split(strings.TrimSpace(strings.Split(out, "\n--- stderr ---\n")[0]), "\n")
	require.Len(t, lines, 3, out)
	require.True(t, strings.HasPrefix(lines[0], "JOBMON WARNING - NIGHTLY LOAD (FAILED_RUN)"), out)
	require.Equal(t, "NIGHTLY LOAD: FAILED_RUN, level 2: 3 failed run(s) in a row, the worst WARNING", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "checked schema \"jobmon\" as user "), out)
	require.NotContains(t, out, b.Server.Password)

	code, out = plugin(t, bin, nil, "-t", "soon")
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), "JOBMON UNKNOWN - invalid value \"soon\" for flag -t: want whole seconds"), out)
}
