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
	Baseline         []time.Duration // the COPY pipe of P1; none elsewhere
	// Spool is, for the logical capture with Spool, how long Spool took
	// after the writes to confirm their end on the slot.
	Spool []time.Duration
	// Units is how many rows (P1, P2) or changes (P3) one run moves, for
	// the time per row.
	Units int
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

// perRow is the median time per row (or change) in microseconds.
func perRow(ds []time.Duration, units int) string {
	if len(ds) == 0 || units <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f µs", float64(median(ds).Nanoseconds())/1e3/float64(units))
}

// section is one table of the report.
type section struct {
	title, note string
	header      []string
	rows        [][]string
}

func (s section) render(b *strings.Builder) {
	if len(s.rows) == 0 {
		return
	}
	fmt.Fprintf(b, "## %s\n\n", s.title)
	if s.note != "" {
		fmt.Fprintf(b, "%s\n\n", s.note)
	}
	fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(s.header, " | "), strings.Repeat("---|", len(s.header)))
	for _, r := range s.rows {
		fmt.Fprintf(b, "| %s |\n", strings.Join(r, " | "))
	}
	b.WriteString("\n")
}

// mainSection is the table of pgmimeo against mimeo (and, for P1, the COPY
// pipe).
func mainSection(rs []result) section {
	s := section{title: "pgmimeo against mimeo 1.5.1",
		header: []string{"layout", "workload", "pgmimeo", "mimeo", "binary COPY pipe", "pgmimeo/mimeo", "pgmimeo/COPY", "pgmimeo per row"}}
	for _, r := range rs {
		s.rows = append(s.rows, []string{r.Layout, r.Workload, spread(r.Pgmimeo), spread(r.Mimeo), spread(r.Baseline),
			ratio(r.Pgmimeo, r.Mimeo), ratio(r.Pgmimeo, r.Baseline), perRow(r.Pgmimeo, r.Units)})
	}
	return s
}

// logdelSection is the table of LogDeletes against dml: each P3b workload
// beside the P3 one of the same layout and changes, measured in the same
// runs (queues interleaves them).
func logdelSection(rs []result) section {
	s := section{title: "LogDeletes against dml",
		note:   "P3b against P3 of the same runs: the four refreshes of a run (pgmimeo's and mimeo's, dml and logdel) take turns after the same changes to both tables.",
		header: []string{"layout", "workload", "pgmimeo logdel", "pgmimeo dml", "pgmimeo logdel/dml", "mimeo logdel/dml"}}
	dmls := map[string]result{}
	for _, r := range rs {
		if rest, ok := strings.CutPrefix(r.Workload, p3Label+", "); ok {
			dmls[r.Layout+"|"+rest] = r
		}
	}
	for _, r := range rs {
		rest, ok := strings.CutPrefix(r.Workload, p3bLabel+", ")
		if !ok {
			continue
		}
		d, ok := dmls[r.Layout+"|"+rest]
		if !ok {
			continue
		}
		s.rows = append(s.rows, []string{r.Layout, rest, spread(r.Pgmimeo), spread(d.Pgmimeo), ratio(r.Pgmimeo, d.Pgmimeo), ratio(r.Mimeo, d.Mimeo)})
	}
	return s
}

// report is the whole results file.
type report struct {
	rows, changes, runs int
	main                []result
	logical             []result // Pgmimeo: logical capture; Mimeo unused; Baseline: the trigger capture
	options             []result // P1 load options: Pgmimeo the option, Baseline the COPY pipe with the key
	writers             []writerResult
	growth              []result
}

func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pgmimeo benchmarks, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s. PostgreSQL 15 (local binaries), job logging off in both tools (pg_jobmon is not packaged).\n", machine())
	if len(r.main) > 0 {
		fmt.Fprintf(&b, "pgbench_accounts of %d rows; P3 (dml) and P3b (logdel, on a copy of the table) apply %d single-row updates, deletes or inserts; %d interleaved runs each (medians, min–max).\n", r.rows, r.changes, r.runs)
		fmt.Fprintf(&b, "\"one server\": source and destination databases on one server; \"two servers\": on two servers of the same machine.\n")
		fmt.Fprintf(&b, "P1: after one untimed round of each; every timed pull starts after a VACUUM (the vacuum autovacuum would owe mimeo's pulls, which insert without FREEZE, is not timed) and a CHECKPOINT of both databases. P3 and the logical capture: every timed refresh starts after a CHECKPOINT of both servers.\n\n")
	} else {
		fmt.Fprintf(&b, "%d runs each (medians, min–max).\n\n", r.runs)
	}
	mainSection(r.main).render(&b)
	logdelSection(r.main).render(&b)

	lg := section{title: "Logical capture against the trigger capture",
		note:   "Both pgmimeo's dml, on identical tables given the same changes. \"+10× unrelated WAL\": before the logical refresh, other tables of the source write ten times the WAL of the changes. The logical job is refreshed (untimed) before the changes are made, so its slot starts at the changes. \"spooled\": `Replicator.Spool` (polling every 100 ms) reads the slot into the destination's spool while the changes are made; the refresh starts, untimed, once Spool has confirmed the end of the writes on the slot, and the last column says how long after the writes that took.",
		header: []string{"layout", "workload", "logical", "trigger", "logical/trigger", "spool caught up after the writes"}}
	for _, x := range r.logical {
		lg.rows = append(lg.rows, []string{x.Layout, x.Workload, spread(x.Pgmimeo), spread(x.Baseline), ratio(x.Pgmimeo, x.Baseline), spread(x.Spool)})
	}
	lg.render(&b)

	op := section{title: "P1 load options",
		note:   "The parts a full pull is made of, each timed alone into a fresh destination table of the same run (binary COPY pipe, synchronous_commit off as for pgmimeo's pull-only jobs), against the COPY pipe into a table that keeps its primary key.",
		header: []string{"layout", "option", "time", "COPY pipe with the key", "option/COPY"}}
	for _, x := range r.options {
		op.rows = append(op.rows, []string{x.Layout, x.Workload, spread(x.Pgmimeo), spread(x.Baseline), ratio(x.Pgmimeo, x.Baseline)})
	}
	op.render(&b)

	renderWriters(&b, r.writers)

	gr := section{title: "How cost grows",
		note:   "Two servers; pgmimeo only (and the COPY pipe for P1); P1 on a table of each size, P3 and P3b on the 5,000,000-row table; time per row, so cost can be extrapolated.",
		header: []string{"workload", "size", "pgmimeo", "per row", "binary COPY pipe", "pgmimeo/COPY"}}
	for _, x := range r.growth {
		gr.rows = append(gr.rows, []string{x.Workload, fmt.Sprint(x.Units), spread(x.Pgmimeo), perRow(x.Pgmimeo, x.Units), spread(x.Baseline), ratio(x.Pgmimeo, x.Baseline)})
	}
	gr.render(&b)
	return b.String()
}
