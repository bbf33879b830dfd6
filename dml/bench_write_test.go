package dml_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// pgbenchUpdate is pgbench's single-row update of an account.
const pgbenchUpdate = `\set aid random(1, 1000000)
\set delta random(-5000, 5000)
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
`

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs the script on db with concurrent clients and returns
// the transactions per second.
func runPgbench(b *testing.B, s *pgtest.Server, db, script string, clients, seconds int) float64 {
	b.Helper()
	cmd := exec.Command("pgbench", "-n", "-f", script, "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(seconds),
		"-h", s.Host, "-p", s.Port, "-U", s.User, db)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.Password)
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", out)
	m := tpsLine.FindSubmatch(out)
	require.NotNil(b, m, "%s", out)
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(b, err)
	return tps
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkSourceWriteOverhead measures what the capture trigger costs the
// source: single-row UPDATE throughput of pgbench's accounts table
// (1,000,000 rows) from 8 concurrent pgbench clients, with the DML job's
// trigger disabled and enabled, in alternating runs of the same benchmark
// run. Reports the median transactions per second of each and their ratio.
// The queue is drained between runs.
//
// For scale, the same runs also measure a PL/pgSQL trigger that does
// nothing (ratio_noop_trigger): the floor of any row-trigger capture.
func BenchmarkSourceWriteOverhead(b *testing.B) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		b.Skip("pgbench is not installed")
	}
	const clients, seconds, rounds = 8, 5, 3
	ctx := context.Background()
	bd := pgtest.Setup(b)
	makeAccounts(b, bd, 1000000)
	script := filepath.Join(b.TempDir(), "update.sql")
	require.NoError(b, os.WriteFile(script, []byte(pgbenchUpdate), 0o600))
	r, err := dml.New(bd.Source, bd.Dest, pgbenchAccounts, &dml.Config{Options: replication.Options{Dest: replication.T("public", "acc")}})
	require.NoError(b, err)
	require.NoError(b, r.Setup(ctx))
	pgtest.MustExec(b, bd.Source, `CREATE FUNCTION bench_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`)
	pgtest.MustExec(b, bd.Source, `CREATE TRIGGER bench_noop AFTER UPDATE ON pgbench_accounts FOR EACH ROW EXECUTE FUNCTION bench_noop()`)
	ours := replication.QuoteIdent(queueTrigger(b, bd))
	for i := 0; i < b.N; i++ {
		var off, on, noop []float64
		for round := 0; round < rounds; round++ {
			modes := []string{"off", "on", "noop"}
			if round%2 == 1 {
				modes = []string{"noop", "on", "off"}
			}
			for _, mode := range modes {
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts DISABLE TRIGGER USER`)
				pgtest.MustExec(b, bd.Source, `CHECKPOINT`)
				switch mode {
				case "on":
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER `+ours)
					on = append(on, runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds))
				case "noop":
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER bench_noop`)
					noop = append(noop, runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds))
				default:
					off = append(off, runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds))
				}
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts DISABLE TRIGGER bench_noop`)
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER `+ours)
				for {
					res, err := r.Refresh(ctx)
					require.NoError(b, err)
					if !res.More {
						break
					}
				}
			}
		}
		b.Logf("tps without trigger %v, with the capture trigger %v, with a no-op trigger %v", off, on, noop)
		b.ReportMetric(median(off), "tps_without")
		b.ReportMetric(median(on), "tps_with")
		b.ReportMetric(median(on)/median(off), "ratio")
		b.ReportMetric(median(noop)/median(off), "ratio_noop_trigger")
	}
	// Changes made while the triggers were disabled were not captured.
	_, err = r.Repull(ctx)
	require.NoError(b, err)
	requireSame(b, bd, `SELECT * FROM pgbench_accounts`, `SELECT * FROM acc`)
}

// queueTrigger returns the name of the job's trigger on pgbench_accounts.
func queueTrigger(b *testing.B, bd *pgtest.Bundle) string {
	var name string
	require.NoError(b, bd.Source.QueryRow(context.Background(),
		`SELECT tgname FROM pg_trigger WHERE tgrelid = 'pgbench_accounts'::regclass AND tgname LIKE 'mimeo%'`).Scan(&name))
	return name
}
