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
	require.Equal(t, "OK: All jobs run successfully | critical=0;;;0 warning=0;;;0 failed_run=0;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0", firstLine(out))

	// WARNING: three warnings in a row; the connection from PG* variables.
	end("refresh snap: public.orders", 2)
	end("refresh snap: public.orders", 2)
	end("refresh snap: public.orders", 2)
	code, out = plugin(t, bin, pgEnv(t, b.DestDSN))
	require.Equal(t, 1, code, out)
	require.Equal(t, "WARNING: REFRESH SNAP: PUBLIC.ORDERS (FAILED_RUN): 3 failed run(s) in a row, the worst WARNING | critical=0;;;0 warning=1;;;0 failed_run=1;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0", firstLine(out))

	// CRITICAL: the worst jobs first, then every other problem job.
	end("nightly load", 3)
	end("nightly load", 3)
	end("nightly load", 3)
	require.NoError(t, l.SetCheckConfig(ctx, jobmon.CheckConfig{JobName: "hourly", Warn: time.Hour, Error: 2 * time.Hour, Active: true}))
	code, out = plugin(t, bin, nil, "--dsn", b.DestDSN, "--schema", "jobmon")
	require.Equal(t, 2, code, out)
	require.Equal(t, "CRITICAL: HOURLY (MISSING): No successful run recorded; "+
		"NIGHTLY LOAD (FAILED_RUN): 3 failed run(s) in a row, the worst CRITICAL; "+
		"REFRESH SNAP: PUBLIC.ORDERS (FAILED_RUN): 3 failed run(s) in a row, the worst WARNING"+
		" | critical=2;;;0 warning=1;;;0 failed_run=2;;;0 missing=1;;;0 running=0;;;0 blocked=0;;;0", firstLine(out))

	// UNKNOWN: the schema is missing.
	code, out = plugin(t, bin, pgEnv(t, b.DestDSN), "--schema", "no_such_schema")
	require.Equal(t, 3, code, out)
	require.Equal(t, `UNKNOWN: job log schema "no_such_schema" not found in database "`+b.DestDB+
		`" (create it with jobmon's Logger.Migrate, or pass --schema)`, firstLine(out))
	require.NotContains(t, out, password)
	code, out = plugin(t, bin, nil, "--dsn", b.SourceDSN)
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), `UNKNOWN: job log schema "jobmon" not found`), out)
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
		require.True(t, strings.HasPrefix(firstLine(out), "UNKNOWN: cannot connect to the database: "), out)
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
	require.Equal(t, "UNKNOWN: no answer from the database within 500ms", firstLine(out))

	// UNKNOWN: a wrong password, which is not echoed either.
	code, out = plugin(t, bin, nil, "--dsn", withPassword(t, b.DestDSN, "Wr0ngPassw0rd"))
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), "UNKNOWN: cannot connect to the database: "), out)
	require.Contains(t, out, "password authentication failed")
	require.NotContains(t, out, "Wr0ngPassw0rd")

	// UNKNOWN: bad arguments and unparsable settings.
	code, out = plugin(t, bin, nil, "--no-such-flag")
	require.Equal(t, 3, code, out)
	require.Equal(t, "UNKNOWN: flag provided but not defined: -no-such-flag", firstLine(out))
	code, out = plugin(t, bin, nil, "--dsn", "host=localhost port=notaport password=Sup3rSecret")
	require.Equal(t, 3, code, out)
	require.True(t, strings.HasPrefix(firstLine(out), "UNKNOWN: bad connection settings: "), out)
	require.NotContains(t, out, "Sup3rSecret")
}
