package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// result is one workload's timings in one layout.
type result struct {
	Layout, Workload string
	Pgmimeo, Mimeo   []time.Duration
	Baseline         []time.Duration // none for P3
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// spread is "median (min–max)" in seconds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f s (%.3f–%.3f)", median(ds).Seconds(), slices.Min(ds).Seconds(), slices.Max(ds).Seconds())
}

func ratio(a, b []time.Duration) string {
	if len(a) == 0 || len(b) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", median(a).Seconds()/median(b).Seconds())
}

// render is the results file: the machine, the date, the sizes, and a
// table of medians with min–max and the ratios of the medians.
func render(rs []result, rows, changes, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pgmimeo against mimeo 1.5.1, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s. PostgreSQL 15 (local binaries), job logging off in both tools.\n", machine())
	fmt.Fprintf(&b, "pgbench_accounts of %d rows; P3 (dml) and P3b (logdel, on a copy of the table) apply %d single-row updates, deletes or inserts; %d interleaved runs each (medians, min–max).\n", rows, changes, runs)
	fmt.Fprintf(&b, "\"one server\": source and destination databases on one server; \"two servers\": on two servers of the same machine.\n\n")
	b.WriteString("| layout | workload | pgmimeo | mimeo | binary COPY pipe | pgmimeo/mimeo | pgmimeo/COPY |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Layout, r.Workload, spread(r.Pgmimeo), spread(r.Mimeo), spread(r.Baseline),
			ratio(r.Pgmimeo, r.Mimeo), ratio(r.Pgmimeo, r.Baseline))
	}
	b.WriteString("\nNot measured yet (issue 19): P2 inserter and updater, P4 the trigger's cost to writers.\n")
	return b.String()
}
