// Command bench runs same-run benchmarks of pgmimeo against mimeo 1.5.1
// (OmniTI's extension, Debian's postgresql-15-mimeo) on throwaway local
// PostgreSQL 15 servers, with job logging off in both (pg_jobmon is not
// packaged), and writes the results with the machine and the date to
// bench/results/.
//
//	sudo apt-get install postgresql-15-mimeo
//	go run ./bench                       # 1,000,000 rows, 100,000 changes, 3 interleaved runs
//	go run ./bench -rows 200000 -changes 20000 -runs 5
//
// Workloads, each on one server (source and destination databases side by
// side) and on two:
//
//   - P1 snapshot and P1 table: a refresh that pulls every row of
//     pgbench_accounts, against the same-run baseline of a binary COPY pipe
//     into a table with its primary key;
//   - P3 dml and P3b logdel: a refresh that applies -changes single-row
//     updates, deletes or inserts made to the source (a source table
//     carries both tools' triggers, so both refresh the same changes;
//     logdel runs on a copy of the table, since mimeo names its queue after
//     the source table).
//
// Runs are interleaved (the tools take turns going first); the table gives
// medians with min–max and the ratios of the medians. Not measured yet (see
// issue 19): P2 (inserter, updater) and P4 (the trigger's cost to pgbench
// writers).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func main() {
	rows := flag.Int("rows", 1000000, "rows of pgbench_accounts")
	changes := flag.Int("changes", 100000, "single-row updates of the P3 workload")
	runs := flag.Int("runs", 3, "interleaved runs of each workload")
	outDir := flag.String("out", "bench/results", "directory of the results file")
	flag.Parse()
	if err := run(context.Background(), *rows, *changes, *runs, *outDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rows, changes, runs int, outDir string, stdout io.Writer) error {
	if _, err := os.Stat(mimeoControl()); err != nil {
		return fmt.Errorf("mimeo is not installed (%v): apt-get install postgresql-15-mimeo", err)
	}
	// Local binaries: the mimeo extension is installed beside them, not in
	// the container images.
	a, err := pgtest.StartServer(ctx, "local")
	if err != nil {
		return err
	}
	defer func() { _ = a.Stop() }()
	b, err := pgtest.StartServer(ctx, "local")
	if err != nil {
		return err
	}
	defer func() { _ = b.Stop() }()

	var results []result
	for _, l := range []struct {
		name     string
		src, dst *pgtest.Server
	}{{"one server", a, a}, {"two servers", a, b}} {
		fmt.Fprintf(stdout, "%s: preparing %d rows…\n", l.name, rows)
		env, err := prepare(ctx, l.src, l.dst, rows)
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		got, err := env.measure(ctx, l.name, changes, runs, stdout)
		env.close()
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		results = append(results, got...)
	}
	report := render(results, rows, changes, runs)
	fmt.Fprint(stdout, report)
	if outDir == "" {
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	host, _ := os.Hostname()
	path := filepath.Join(outDir, time.Now().UTC().Format("2006-01-02")+"-"+sanitize(host)+".md")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "written to", path)
	return nil
}

// machine describes where the numbers were measured.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
