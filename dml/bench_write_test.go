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
// triggers disabled and enabled, in alternating runs of the same benchmark
// run. Reports the median transactions per second of each and their ratio.
// The queue is drained between runs.
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
	for i := 0; i < b.N; i++ {
		var off, on []float64
		for round := 0; round < rounds; round++ {
			for _, enabled := range []bool{round%2 == 1, round%2 == 0} {
				pgtest.MustExec(b, bd.Source, `CHECKPOINT`)
				if enabled {
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER USER`)
					on = append(on, runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds))
				} else {
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts DISABLE TRIGGER USER`)
					off = append(off, runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds))
				}
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER USER`)
				for {
					res, err := r.Refresh(ctx)
					require.NoError(b, err)
					if !res.More {
						break
					}
				}
			}
		}
		b.Logf("tps without trigger %v, with trigger %v", off, on)
		b.ReportMetric(median(off), "tps_without")
		b.ReportMetric(median(on), "tps_with")
		b.ReportMetric(median(on)/median(off), "ratio")
	}
	// Changes made while the triggers were disabled were not captured.
	_, err = r.Repull(ctx)
	require.NoError(b, err)
	requireSame(b, bd, `SELECT * FROM pgbench_accounts`, `SELECT * FROM acc`)
}
