package dml_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

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

var (
	tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	txLine  = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// runPgbench runs the script on db with concurrent clients and returns
// the transactions per second and the number of transactions.
func runPgbench(b *testing.B, s *pgtest.Server, db, script string, clients, seconds int) (float64, int64) {
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
	m = txLine.FindSubmatch(out)
	require.NotNil(b, m, "%s", out)
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(b, err)
	return tps, n
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// walLSN returns the server's current WAL insert position in bytes.
func walLSN(b *testing.B, bd *pgtest.Bundle) int64 {
	var lsn int64
	require.NoError(b, bd.Source.QueryRow(context.Background(), `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&lsn))
	return lsn
}

// drain refreshes r until nothing is left to apply.
func drain(b *testing.B, r *dml.Replicator) {
	for {
		res, err := r.Refresh(context.Background())
		require.NoError(b, err)
		if !res.More {
			return
		}
	}
}

// runWhile runs r.Run while fn runs, then stops it and checks that it
// returned nil.
func runWhile(b *testing.B, r *dml.Replicator, fn func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	fn()
	cancel()
	require.NoError(b, <-done)
}

// Write-overhead modes: what runs on the source while pgbench writes.
const (
	modeNone        = "none"         // no trigger; the logical job's slot exists, unread
	modeNoop        = "noop"         // a PL/pgSQL trigger that does nothing
	modeTrigger     = "trigger"      // the capture trigger; its queue is drained after the run
	modeTriggerRun  = "trigger_run"  // the capture trigger, its job's Run applying meanwhile
	modeLogical     = "logical"      // no trigger; the logical job's Run applying meanwhile
	modeLogicalFull = "logical_full" // as none, with REPLICA IDENTITY FULL (logdel's logical capture needs it)
)

// BenchmarkSourceWriteOverhead measures what change capture costs the
// source: single-row UPDATE throughput of pgbench's accounts table
// (1,000,000 rows) from 8 concurrent pgbench clients, in the modes above,
// in interleaved runs of the same benchmark run (the order reversed every
// other round). Reports the median transactions per second of each mode
// and its ratio to no capture, and the WAL written per transaction where
// nothing but pgbench writes.
//
// Two jobs replicate the table: one with the trigger capture (its trigger
// enabled only in the trigger modes; changes made without it are pulled
// again at the end) and one with logical capture. The logical job's slot
// exists in every mode and is caught up after every run, so an unread
// slot (the none mode) costs a writer nothing: the server runs with
// wal_level = logical throughout, and decoding happens only when the slot
// is read. What logical capture adds is reading the slot (the source
// decodes the WAL, the refresh fetches the changed rows from the source),
// measured in the logical mode with the job's Run going, and the larger
// WAL of REPLICA IDENTITY FULL, measured in logical_full. The trigger_run
// mode runs the trigger job's Run alike, for a like-for-like comparison.
// In the harness the destination database is on the same server (and the
// same 2 cores) as the source, so the two Run modes also pay for the
// destination's apply, which a separate destination server would not.
func BenchmarkSourceWriteOverhead(b *testing.B) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		b.Skip("pgbench is not installed")
	}
	const clients, seconds, rounds = 8, 5, 5
	ctx := context.Background()
	bd := pgtest.Setup(b)
	makeAccounts(b, bd, 1000000)
	script := filepath.Join(b.TempDir(), "update.sql")
	require.NoError(b, os.WriteFile(script, []byte(pgbenchUpdate), 0o600))
	r, err := dml.New(bd.Source, bd.Dest, pgbenchAccounts, &dml.Config{Options: replication.Options{Dest: replication.T("public", "acc")},
		Logical: dml.LogicalConfig{PollInterval: 100 * time.Millisecond}})
	require.NoError(b, err)
	require.NoError(b, r.Setup(ctx))
	lr, err := dml.New(bd.Source, bd.Dest, pgbenchAccounts, &dml.Config{Options: replication.Options{Dest: replication.T("public", "acc_logical")},
		Capture: dml.CaptureLogical, Logical: dml.LogicalConfig{PollInterval: 100 * time.Millisecond}})
	require.NoError(b, err)
	// Set up under REPLICA IDENTITY FULL, its publication has no column
	// list: with one (even of every column), PostgreSQL refuses updates
	// once the table is switched to FULL. Every column is replicated, so
	// the publication is otherwise the same.
	pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts REPLICA IDENTITY FULL`)
	require.NoError(b, lr.Setup(ctx))
	pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts REPLICA IDENTITY DEFAULT`)
	pgtest.MustExec(b, bd.Source, `CREATE FUNCTION bench_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`)
	pgtest.MustExec(b, bd.Source, `CREATE TRIGGER bench_noop AFTER UPDATE ON pgbench_accounts FOR EACH ROW EXECUTE FUNCTION bench_noop()`)
	enableOurs := func() {
		for _, name := range queueTriggers(b, bd) {
			pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER `+replication.QuoteIdent(name))
		}
	}
	modes := []string{modeNone, modeNoop, modeTrigger, modeTriggerRun, modeLogical, modeLogicalFull}
	for i := 0; i < b.N; i++ {
		tps := map[string][]float64{}
		walPerTx := map[string][]float64{}
		for round := 0; round < rounds; round++ {
			order := append([]string(nil), modes...)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, mode := range order {
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts DISABLE TRIGGER USER`)
				switch mode {
				case modeNoop:
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts ENABLE TRIGGER bench_noop`)
				case modeTrigger, modeTriggerRun:
					enableOurs()
				case modeLogicalFull:
					pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts REPLICA IDENTITY FULL`)
				}
				pgtest.MustExec(b, bd.Source, `CHECKPOINT`)
				var t float64
				var n int64
				from := walLSN(b, bd)
				bench := func() { t, n = runPgbench(b, bd.Server, bd.SourceDB, script, clients, seconds) }
				switch mode {
				case modeTriggerRun:
					runWhile(b, r, bench)
				case modeLogical:
					runWhile(b, lr, bench)
				default:
					bench()
					walPerTx[mode] = append(walPerTx[mode], float64(walLSN(b, bd)-from)/float64(n))
				}
				tps[mode] = append(tps[mode], t)
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts REPLICA IDENTITY DEFAULT`)
				pgtest.MustExec(b, bd.Source, `ALTER TABLE pgbench_accounts DISABLE TRIGGER bench_noop`)
				enableOurs()
				drain(b, r)
				drain(b, lr)
			}
		}
		b.Logf("tps by mode: %v", tps)
		b.Logf("WAL bytes per transaction by mode: %v", walPerTx)
		none := median(tps[modeNone])
		for _, mode := range modes {
			b.ReportMetric(median(tps[mode]), "tps_"+mode)
			if mode != modeNone {
				b.ReportMetric(median(tps[mode])/none, mode+"/none")
			}
			if w, ok := walPerTx[mode]; ok {
				b.ReportMetric(median(w), "WALB/tx_"+mode)
			}
		}
	}
	// The logical job missed nothing.
	requireSame(b, bd, `SELECT * FROM pgbench_accounts`, `SELECT * FROM acc_logical`)
	// Changes made while the trigger was disabled were not captured.
	_, err = r.Repull(ctx)
	require.NoError(b, err)
	requireSame(b, bd, `SELECT * FROM pgbench_accounts`, `SELECT * FROM acc`)
}

// queueTriggers returns the names of the job's triggers on
// pgbench_accounts.
func queueTriggers(b *testing.B, bd *pgtest.Bundle) []string {
	var names []string
	require.NoError(b, bd.Source.QueryRow(context.Background(),
		`SELECT array_agg(tgname) FROM pg_trigger WHERE tgrelid = 'pgbench_accounts'::regclass AND tgname LIKE 'mimeo%'`).Scan(&names))
	require.NotEmpty(b, names)
	return names
}
