// Command bench runs same-run benchmarks of pgmimeo against mimeo 1.5.1
// (OmniTI's extension, Debian's postgresql-15-mimeo) on throwaway local
// PostgreSQL 15 servers, with job logging off in both (pg_jobmon is not
// packaged), and writes the results with the machine and the date to
// bench/results/.
//
//	sudo apt-get install postgresql-15-mimeo
//	go run ./bench                       # 1,000,000 rows, 100,000 changes, 3 interleaved runs
//	go run ./bench -rows 200000 -changes 20000 -runs 5
//	go run ./bench -growth               # how cost grows: P1 at 1M and 5M rows, P3 at 10k, 100k and 500k changes
//
// Workloads, each on one server (source and destination databases side by
// side) and on two:
//
//   - P1 snapshot and P1 table: a refresh that pulls every row of
//     pgbench_accounts, against the same-run baseline of a binary COPY pipe
//     into a table with its primary key; and the options a full pull is
//     made of (keeping the key or building it after, maintenance_work_mem,
//     parallel index workers, parallel COPY streams), each timed alone;
//   - P2 inserter and updater: a refresh that pulls -changes rows inserted
//     or updated since the last, by a time control column;
//   - P3 dml and P3b logdel: a refresh that applies -changes single-row
//     updates, deletes or inserts made to the source (a source table
//     carries both tools' triggers, so both refresh the same changes;
//     logdel runs on a copy of the table, since mimeo names its queue after
//     the source table); and pgmimeo's logical capture on the same changes
//     to another copy, also with ten times as much unrelated WAL;
//   - P4 (one server only: it measures the source): pgbench writers on a
//     table without capture and with each capture.
//
// Runs are interleaved (the tools take turns going first; in P3 the four
// refreshes of a run, pgmimeo's and mimeo's of dml and of logdel, take
// turns, so logdel/dml is a same-run ratio too); the tables give medians
// with min–max and the ratios of the medians. After every run the
// destinations are compared with the source (a checksum of ordered rows).
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

// config is what one invocation measures.
type config struct {
	rows, changes, runs int
	// writerSeconds is how long each P4 pgbench run lasts; 0 skips P4.
	writerSeconds int
	// growth measures how cost grows instead of the comparison.
	growth bool
	outDir string
}

func main() {
	var c config
	flag.IntVar(&c.rows, "rows", 1000000, "rows of pgbench_accounts")
	flag.IntVar(&c.changes, "changes", 100000, "changes of the P2 and P3 workloads (at most rows/10)")
	flag.IntVar(&c.runs, "runs", 3, "interleaved runs of each workload")
	flag.IntVar(&c.writerSeconds, "writer-seconds", 10, "seconds of each P4 pgbench run (0: no P4)")
	flag.BoolVar(&c.growth, "growth", false, "measure how cost grows: P1 at 1M and 5M rows, P3 at 10k, 100k and 500k changes")
	flag.StringVar(&c.outDir, "out", "bench/results", "directory of the results file (empty: none)")
	flag.Parse()
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, stdout io.Writer) error {
	if c.changes < 1 || c.rows < 10*c.changes || c.runs < 1 {
		return fmt.Errorf("need 1 ≤ changes ≤ rows/10 and runs ≥ 1 (rows %d, changes %d, runs %d)", c.rows, c.changes, c.runs)
	}
	if _, err := os.Stat(mimeoControl()); err != nil && !c.growth {
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

	rep := report{rows: c.rows, changes: c.changes, runs: c.runs}
	name := "bench"
	if c.growth {
		name = "growth"
		if err := growth(ctx, c, a, b, &rep, stdout); err != nil {
			return err
		}
	} else if err := compare(ctx, c, a, b, &rep, stdout); err != nil {
		return err
	}
	text := rep.String()
	fmt.Fprint(stdout, text)
	if c.outDir == "" {
		return nil
	}
	if err := os.MkdirAll(c.outDir, 0o755); err != nil {
		return err
	}
	host, _ := os.Hostname()
	path := filepath.Join(c.outDir, time.Now().UTC().Format("2006-01-02")+"-"+sanitize(host)+"-"+name+".md")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "written to", path)
	return nil
}

// layouts are the two placements of source and destination.
func layouts(a, b *pgtest.Server) []struct {
	name     string
	src, dst *pgtest.Server
} {
	return []struct {
		name     string
		src, dst *pgtest.Server
	}{{"one server", a, a}, {"two servers", a, b}}
}

// compare measures pgmimeo against mimeo and the COPY pipe in both
// layouts.
func compare(ctx context.Context, c config, a, b *pgtest.Server, rep *report, out io.Writer) error {
	start := time.Now()
	for n, l := range layouts(a, b) {
		fmt.Fprintf(out, "%s: preparing %d rows…\n", l.name, c.rows)
		e, err := prepare(ctx, l.src, l.dst, c.rows, setup{mimeo: true, p2: true})
		if err == nil {
			err = e.compare(ctx, c, l.name, n == 0, rep, out, start)
		}
		e.close()
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

func (e *env) compare(ctx context.Context, c config, layout string, writers bool, rep *report, out io.Writer, start time.Time) error {
	done := func(what string) { fmt.Fprintf(out, "  %s done (%s)\n", what, time.Since(start).Round(time.Second)) }
	p1, err := e.fullPulls(ctx, layout, c.runs)
	if err != nil {
		return err
	}
	rep.main = append(rep.main, p1...)
	done("P1")
	opts, err := e.loadOptions(ctx, layout, c.runs)
	if err != nil {
		return err
	}
	rep.options = append(rep.options, opts...)
	done("P1 options")
	p2, err := e.incremental(ctx, layout, c.changes, c.runs)
	if err != nil {
		return err
	}
	rep.main = append(rep.main, p2...)
	done("P2")
	p3, err := e.queues(ctx, layout, c.changes, c.runs)
	if err != nil {
		return err
	}
	rep.main = append(rep.main, p3...)
	done("P3")
	byName := map[string][]result{}
	for _, r := range p3 {
		byName[r.Workload] = append(byName[r.Workload], r)
	}
	lg, err := e.logicalCapture(ctx, layout, c.changes, c.runs, byName)
	if err != nil {
		return err
	}
	rep.logical = append(rep.logical, lg...)
	done("P3 logical")
	if writers && c.writerSeconds > 0 {
		if rep.writers, err = e.writers(ctx, max(c.rows/10, 1000), c.runs, c.writerSeconds); err != nil {
			return err
		}
		done("P4")
	}
	return nil
}

// growth measures how pgmimeo's cost grows, on two servers: P1 at 1M and
// 5M rows, P3 at 10k, 100k and 500k changes on the 5M-row table.
func growth(ctx context.Context, c config, a, b *pgtest.Server, rep *report, out io.Writer) error {
	for _, rows := range []int{1000000, 5000000} {
		fmt.Fprintf(out, "growth: preparing %d rows…\n", rows)
		e, err := prepare(ctx, a, b, rows, setup{})
		if err == nil {
			err = e.grow(ctx, c.runs, rows == 5000000, rep)
		}
		e.close()
		if err != nil {
			return fmt.Errorf("growth, %d rows: %w", rows, err)
		}
		fmt.Fprintf(out, "  %d rows done\n", rows)
	}
	return nil
}

func (e *env) grow(ctx context.Context, runs int, changes bool, rep *report) error {
	p1, err := e.fullPulls(ctx, "two servers", runs)
	if err != nil {
		return err
	}
	rep.growth = append(rep.growth, p1...)
	if !changes {
		return nil
	}
	for _, n := range []int{10000, 100000, 500000} {
		p3, err := e.queues(ctx, "two servers", n, runs)
		if err != nil {
			return err
		}
		rep.growth = append(rep.growth, p3...)
	}
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
