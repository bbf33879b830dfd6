package check_test

import (
	"context"
	"crypto/md5"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// psqlDumpMD5 is the baseline a DBA would reach for without pgmimeo: dump
// the table in key order with psql and hash the stream. It says whether
// the sides match, but not where they differ.
func psqlDumpMD5(b *testing.B, s *pgtest.Server, db string) [16]byte {
	b.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `COPY (SELECT * FROM accounts ORDER BY aid) TO STDOUT`)
	cmd.Env = s.PSQLEnv(db)
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	h := md5.New()
	_, err = io.Copy(h, out)
	require.NoError(b, err)
	require.NoError(b, cmd.Wait())
	var sum [16]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// BenchmarkChecksum validates a 1,000,000-row pgbench_accounts-like table
// (identical, and with one changed row) and reports rows/s, and the ratio
// of its time to the psql dump-and-md5 of both sides measured in the same
// run (ratio < 1: faster than the dump, which cannot name the difference).
func BenchmarkChecksum(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatalf("psql client needed for the baseline: %v", err)
	}
	bb := pgtest.Setup(b)
	ctx := context.Background()
	const n = 1_000_000
	for _, db := range []pgtest.Execer{bb.Source, bb.Dest} {
		pgtest.MustExec(b, db, accountsDDL("accounts", n))
		pgtest.MustExec(b, db, `VACUUM accounts`)
	}

	run := func(b *testing.B, cfg *check.ChecksumConfig, wantMatch bool) {
		var took, base time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			res, err := check.Checksum(ctx, bb.Source, bb.Dest, accounts, accounts, cfg)
			took += time.Since(start)
			require.NoError(b, err)
			require.Equal(b, wantMatch, res.Match)
			if !wantMatch {
				require.Equal(b, []check.RowDiff{{Key: []string{"654321"}, Change: check.RowChanged}}, res.Ranges[0].Rows)
			}

			b.StopTimer()
			start = time.Now()
			sums := make(chan [16]byte, 1)
			go func() { sums <- psqlDumpMD5(b, bb.Server, bb.SourceDB) }()
			d := psqlDumpMD5(b, bb.Server, bb.DestDB)
			s := <-sums
			base += time.Since(start)
			require.Equal(b, wantMatch, s == d)
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(n)*float64(b.N)/base.Seconds(), "baseline-rows/s")
		b.ReportMetric(took.Seconds()/base.Seconds(), "ratio-to-psql-dump")
	}
	b.Run("match", func(b *testing.B) { run(b, nil, true) })
	pgtest.MustExec(b, bb.Dest, `UPDATE accounts SET abalance = abalance + 1 WHERE aid = 654321`)
	b.Run("one-changed-row", func(b *testing.B) { run(b, nil, false) })
	b.Run("one-changed-row-md5", func(b *testing.B) { run(b, &check.ChecksumConfig{Hash: check.HashMD5}, false) })
}
