package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/replication"
)

// writerResult is P4's throughput of pgbench writers on a table of one
// capture.
type writerResult struct {
	Capture string
	TPS     []float64
}

// writerCaptures are P4's tables, by the capture they carry.
var writerCaptures = []struct{ table, label string }{
	{"p4_none", "no capture"},
	{"p4_trigger", "pgmimeo dml, trigger capture"},
	{"p4_logical", "pgmimeo dml, logical capture"},
	{"p4_mimeo", "mimeo dml"},
}

// writers measures P4, the capture's cost to writers: pgbench clients
// update and read random rows of a table with no capture, with pgmimeo's
// trigger, with pgmimeo's logical capture and with mimeo's trigger, taking
// turns, seconds each; between runs every job is refreshed (untimed), and
// at the end every destination holds its source's rows.
func (e *env) writers(ctx context.Context, rows, runs, seconds int) ([]writerResult, error) {
	bin, err := pgbench()
	if err != nil {
		return nil, err
	}
	for _, c := range writerCaptures {
		for _, sql := range []string{
			fmt.Sprintf(`CREATE TABLE %[1]s (LIKE pgbench_accounts INCLUDING ALL);
				INSERT INTO %[1]s SELECT * FROM pgbench_accounts WHERE aid <= %[2]d`, c.table, rows),
			`VACUUM ANALYZE ` + c.table,
		} {
			if _, err := e.src.Exec(ctx, sql); err != nil {
				return nil, err
			}
		}
	}
	var jobs []replication.Replicator
	for _, c := range []struct {
		table   string
		capture dml.Capture
	}{{"p4_trigger", dml.CaptureTrigger}, {"p4_logical", dml.CaptureLogical}} {
		r, err := dml.New(e.src, e.dst, replication.T("public", c.table),
			&dml.Config{Capture: c.capture, Options: replication.Options{Dest: replication.T("p", c.table)}})
		if err != nil {
			return nil, err
		}
		if err := r.Setup(ctx); err != nil {
			return nil, err
		}
		e.drop = append(e.drop, func() { _ = r.Destroy(context.Background(), nil) })
		jobs = append(jobs, r)
	}
	if _, err := e.dst.Exec(ctx, `SELECT mimeo.dml_maker('public.p4_mimeo', $1, 'm.p4_mimeo', p_jobmon := false)`, e.mimeoID); err != nil {
		return nil, fmt.Errorf("mimeo.dml_maker: %w", err)
	}
	drain := func() error {
		for _, j := range jobs {
			if _, err := j.Refresh(ctx); err != nil {
				return err
			}
		}
		_, err := e.dst.Exec(ctx, `SELECT mimeo.refresh_dml('m.p4_mimeo', p_jobmon := false)`)
		return err
	}
	out := make([]writerResult, len(writerCaptures))
	for i := range runs {
		for k := range writerCaptures {
			c := writerCaptures[(k+i)%len(writerCaptures)]
			tps, err := e.pgbench(ctx, bin, c.table, rows, seconds)
			if err != nil {
				return nil, fmt.Errorf("P4 %s: %w", c.label, err)
			}
			out[(k+i)%len(writerCaptures)].TPS = append(out[(k+i)%len(writerCaptures)].TPS, tps)
		}
		if err := drain(); err != nil {
			return nil, err
		}
	}
	for k, c := range writerCaptures {
		out[k].Capture = c.label
		if c.table == "p4_none" {
			continue
		}
		dest := "p." + c.table
		if c.table == "p4_mimeo" {
			dest = "m." + c.table
		}
		if err := e.sameRows(ctx, c.table, dest, "", accountsCols, "aid", ""); err != nil {
			return nil, fmt.Errorf("P4 %s: %w", c.label, err)
		}
	}
	return out, nil
}

// pgbench finds the pgbench of the server binaries.
func pgbench() (string, error) {
	if b, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(b)), "pgbench")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("pgbench")
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs four pgbench clients for seconds against table and returns
// their transactions per second: each transaction updates a random row's
// balance and reads it back.
func (e *env) pgbench(ctx context.Context, bin, table string, rows, seconds int) (float64, error) {
	script, err := os.CreateTemp("", "pgmimeo-bench-*.sql")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.Remove(script.Name()) }()
	fmt.Fprintf(script, `\set aid random(1, %d)
\set delta random(-5000, 5000)
BEGIN;
UPDATE %[2]s SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM %[2]s WHERE aid = :aid;
END;
`, rows, table)
	if err := script.Close(); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, "-n", "-c", "4", "-j", "2", "-T", strconv.Itoa(seconds), "-f", script.Name())
	cmd.Env = e.srcServer.PSQLEnv(e.srcName)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// renderWriters writes P4's table.
func renderWriters(b *strings.Builder, ws []writerResult) {
	s := section{title: "P4: the capture's cost to writers",
		note:   "Four pgbench clients (two threads) on the source, each transaction updating a random row's balance and reading it back, on tables of the same rows with no capture and with each capture, taking turns; transactions per second, median (min–max).",
		header: []string{"capture", "tps", "of no capture"}}
	var none float64
	for _, w := range ws {
		med := medianF(w.TPS)
		if w.Capture == writerCaptures[0].label {
			none = med
		}
		of := "-"
		if none > 0 {
			of = fmt.Sprintf("%.3f", med/none)
		}
		s.rows = append(s.rows, []string{w.Capture, fmt.Sprintf("%.0f (%.0f–%.0f)", med, slices.Min(w.TPS), slices.Max(w.TPS)), of})
	}
	s.render(b)
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
