package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runHere runs the command in this process (no database needed).
func runHere(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := execute(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestEverySubcommandHelpHasAnExample: --help of every subcommand
// prints its usage and an example that runs it.
func TestEverySubcommandHelpHasAnExample(t *testing.T) {
	root := newRoot(&app{})
	require.GreaterOrEqual(t, len(root.Commands()), 14)
	for _, c := range root.Commands() {
		if c.Name() == "help" || !c.Runnable() { // help, and the help topic jobfile
			continue
		}
		out, _, code := runHere(c.Name(), "--help")
		require.Equal(t, 0, code, c.Name())
		require.Contains(t, out, "Examples:", c.Name())
		require.Contains(t, out, "pgmimeo "+c.Name(), c.Name())
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runHere("version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "pgmimeo "), out)
	out2, _, code := runHere("--version")
	require.Equal(t, 0, code)
	require.Equal(t, out, out2)
}

// TestBadUsageExits2: bad usage and an invalid job file exit 2 and say
// what is wrong, with the line and field of a file's problem.
func TestBadUsageExits2(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	require.NoError(t, writeText(bad, "sources:\n  app:\n    dsn: postgres://me:hunter2@db/app\njobs:\n  - kind: snapshot\n    table: a.b\n    period: often\n"))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"nope"}, []string{`unknown command "nope"`}},
		{[]string{"apply", "--nope"}, []string{"unknown flag: --nope"}},
		{[]string{"apply"}, []string{"give the job file with -f"}},
		{[]string{"apply", "extra"}, []string{`apply takes no argument (got "extra")`}},
		{[]string{"refresh", "-f", bad}, []string{"bad.yaml:3:10: sources.app.dsn: holds a password", "bad.yaml:7:13: jobs[0].period: want a duration"}},
		{[]string{"apply", "-f", bad}, []string{"bad.yaml:3:10: sources.app.dsn: holds a password"}},
		{[]string{"destroy", "--all"}, []string{"add --yes"}},
		{[]string{"run", "--concurrency", "0"}, []string{"--concurrency must be at least 1"}},
	} {
		out, errOut, code := runHere(tc.args...)
		require.Equal(t, exitUsage, code, "%v: %s%s", tc.args, out, errOut)
		for _, w := range tc.want {
			require.Contains(t, errOut, w, tc.args)
		}
		require.NotContains(t, out+errOut, "hunter2")
	}
}

// TestCheckWithABadFileIsUnknown: check answers as a plugin even when its
// job file is bad.
func TestCheckWithABadFileIsUnknown(t *testing.T) {
	out, _, code := runHere("check", "-f", t.TempDir()+"/missing.yaml")
	require.Equal(t, 3, code)
	require.True(t, strings.HasPrefix(out, "JOBMON UNKNOWN - "), out)
}

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(4 * time.Second)
	var buf bytes.Buffer
	p := &progress{w: &buf, label: "pull public.t", total: 100e6, rowBytes: 100, start: start, now: func() time.Time { return now }}
	require.Equal(t, "pull public.t: 20.0 MB of ~100.0 MB, ~200000 rows, 5.0 MB/s, ETA 16s", p.line(20e6))
	p.update(20e6)
	p.done()
	require.Equal(t, "\rpull public.t: 20.0 MB of ~100.0 MB, ~200000 rows, 5.0 MB/s, ETA 16s\x1b[K\r\x1b[K", buf.String())
	require.False(t, isTerminal(&buf))
}
