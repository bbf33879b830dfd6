package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// psqlPipe times "psql COPY out | psql COPY in" from the bundle's source
// to its destination.
func psqlPipe(b *testing.B, bn *pgtest.Bundle, out, in string) time.Duration {
	b.Helper()
	start := time.Now()
	bn.Server.PSQLPipe(b, bn.SourceDB, out, bn.DestDB, in)
	return time.Since(start)
}

// psqlDest times sql run by psql on the destination.
func psqlDest(b *testing.B, bn *pgtest.Bundle, sql string) time.Duration {
	b.Helper()
	start := time.Now()
	bn.Server.PSQL(b, bn.DestDB, sql)
	return time.Since(start)
}

// timedRefresh runs refresh with the benchmark's timer on and returns its
// result and wall time; it fails the benchmark on an error.
func timedRefresh(b *testing.B, refresh func(context.Context) (replication.Result, error)) (replication.Result, time.Duration) {
	b.Helper()
	b.StartTimer()
	start := time.Now()
	res, err := refresh(context.Background())
	d := time.Since(start)
	b.StopTimer()
	require.NoError(b, err)
	return res, d
}

// accountsSQL makes a pgbench_accounts-like table (about 100 bytes a row).
const accountsSQL = `CREATE TABLE accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))`

// BenchmarkInserterRefresh: one Refresh that appends 1,000,000 rows new on
// the source since the last refresh into a destination table that has its
// primary key, against the same run's "psql COPY out | psql COPY in" of the
// same rows (same query) into a table with the same primary key.
func BenchmarkInserterRefresh(b *testing.B) {
	const rows = 1_000_000
	ctx := context.Background()
	bn := pgtest.Setup(b)
	pgtest.MustExec(b, bn.Source, accountsSQL)
	pgtest.MustExec(b, bn.Source, fmt.Sprintf(`INSERT INTO accounts SELECT g, g / 100000, 0, '' FROM generate_series(1, %d) g`, rows))
	pgtest.MustExec(b, bn.Source, `VACUUM ANALYZE accounts`)
	pgtest.MustExec(b, bn.Dest, `CREATE TABLE base (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))`)
	cfg := &incremental.Config{Control: "aid", SerialBoundary: new(int64(0))}
	cfg.SkipPull = true
	ins, err := incremental.NewInserter(bn.Source, bn.Dest, replication.T("public", "accounts"), cfg)
	require.NoError(b, err)
	out := fmt.Sprintf(`COPY (SELECT aid, bid, abalance, filler FROM public.accounts WHERE aid > 0 AND aid <= %d ORDER BY aid) TO STDOUT`, rows)
	in := `COPY base FROM STDIN`
	// Warm the source's cache for both sides alike.
	psqlPipe(b, bn, out, in)

	var ours, base time.Duration
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The last refresh left the job with nothing pulled: every row is new.
		_ = ins.Destroy(ctx, nil)
		require.NoError(b, ins.Setup(ctx))
		pgtest.MustExec(b, bn.Dest, `CHECKPOINT`)
		res, d := timedRefresh(b, ins.Refresh)
		ours += d
		require.EqualValues(b, rows, res.Inserted)
		bytes += res.Bytes

		pgtest.MustExec(b, bn.Dest, `TRUNCATE base`)
		pgtest.MustExec(b, bn.Dest, `CHECKPOINT`)
		base += psqlPipe(b, bn, out, in)
		b.StartTimer()
	}
	b.StopTimer()
	require.Equal(b, pgtest.Rows(b, bn.Source, "SELECT aid, bid FROM accounts WHERE aid % 1000 = 0"),
		pgtest.Rows(b, bn.Dest, "SELECT aid, bid FROM accounts WHERE aid % 1000 = 0"))
	n := float64(b.N)
	b.ReportMetric(float64(rows)*n/ours.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/ours.Seconds()/1e6, "MB/s")
	b.ReportMetric(ours.Seconds()/n, "s/refresh")
	b.ReportMetric(base.Seconds()/n, "s/psql-baseline")
	b.ReportMetric(ours.Seconds()/base.Seconds(), "x-baseline")
}

// BenchmarkUpdaterRefresh: one Refresh that applies 100,000 rows updated on
// the source (of 1,000,000) by key, against two baselines of the same run:
// "psql COPY out | psql COPY in" of the same 100,000 rows into an empty
// table with the same primary key (the transfer alone), and that transfer
// followed by the same set-wise apply by hand in psql (DELETE … USING and
// INSERT … SELECT into a 1,000,000-row copy with the same indexes).
func BenchmarkUpdaterRefresh(b *testing.B) {
	const rows, changed = 1_000_000, 100_000
	ctx := context.Background()
	bn := pgtest.Setup(b)
	pgtest.MustExec(b, bn.Source, accountsSQL)
	pgtest.MustExec(b, bn.Source, `ALTER TABLE accounts ADD mtime bigint NOT NULL DEFAULT 0`)
	pgtest.MustExec(b, bn.Source, `CREATE SEQUENCE mtime_seq`)
	pgtest.MustExec(b, bn.Source, fmt.Sprintf(`INSERT INTO accounts SELECT g, g / 100000, 0, '', nextval('mtime_seq') FROM generate_series(1, %d) g`, rows))
	pgtest.MustExec(b, bn.Source, `CREATE INDEX ON accounts (mtime)`)
	pgtest.MustExec(b, bn.Source, `VACUUM ANALYZE accounts`)
	cfg := &incremental.Config{Control: "mtime", SerialBoundary: new(int64(0))}
	upd, err := incremental.NewUpdater(bn.Source, bn.Dest, replication.T("public", "accounts"), cfg)
	require.NoError(b, err)
	require.NoError(b, upd.Setup(ctx))
	pgtest.MustExec(b, bn.Dest, `CREATE TABLE base (LIKE accounts INCLUDING INDEXES)`)
	pgtest.MustExec(b, bn.Dest, `INSERT INTO base SELECT * FROM accounts`)
	pgtest.MustExec(b, bn.Dest, `CREATE TABLE stage (LIKE accounts INCLUDING INDEXES)`)
	pgtest.MustExec(b, bn.Dest, `VACUUM ANALYZE base`)

	var ours, transfer, apply time.Duration
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var lo, hi int64
		require.NoError(b, bn.Source.QueryRow(ctx, `SELECT last_value FROM mtime_seq`).Scan(&lo))
		pgtest.MustExec(b, bn.Source, fmt.Sprintf(`UPDATE accounts SET abalance = abalance + 1, mtime = nextval('mtime_seq') WHERE aid %% 10 = %d`, i%10))
		require.NoError(b, bn.Source.QueryRow(ctx, `SELECT last_value FROM mtime_seq`).Scan(&hi))
		pgtest.MustExec(b, bn.Source, `VACUUM ANALYZE accounts`)
		pgtest.MustExec(b, bn.Dest, `CHECKPOINT`)
		res, d := timedRefresh(b, upd.Refresh)
		ours += d
		require.EqualValues(b, changed, res.Updated)
		bytes += res.Bytes

		pgtest.MustExec(b, bn.Dest, `TRUNCATE stage`)
		pgtest.MustExec(b, bn.Dest, `CHECKPOINT`)
		transfer += psqlPipe(b, bn, fmt.Sprintf(`COPY (SELECT aid, bid, abalance, filler, mtime FROM public.accounts WHERE mtime > %d AND mtime <= %d) TO STDOUT`, lo, hi),
			`COPY stage FROM STDIN`)
		apply += psqlDest(b, bn, `BEGIN; DELETE FROM base d USING stage s WHERE d.aid = s.aid; INSERT INTO base SELECT * FROM stage; COMMIT`)
		b.StartTimer()
	}
	b.StopTimer()
	require.Equal(b, pgtest.Rows(b, bn.Source, "SELECT aid, abalance, mtime FROM accounts WHERE aid % 997 = 0"),
		pgtest.Rows(b, bn.Dest, "SELECT aid, abalance, mtime FROM accounts WHERE aid % 997 = 0"))
	require.Equal(b, pgtest.Rows(b, bn.Dest, "SELECT aid, abalance, mtime FROM base WHERE aid % 997 = 0"),
		pgtest.Rows(b, bn.Dest, "SELECT aid, abalance, mtime FROM accounts WHERE aid % 997 = 0"))
	n := float64(b.N)
	b.ReportMetric(float64(changed)*n/ours.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/ours.Seconds()/1e6, "MB/s")
	b.ReportMetric(ours.Seconds()/n, "s/refresh")
	b.ReportMetric(transfer.Seconds()/n, "s/psql-transfer")
	b.ReportMetric((transfer+apply).Seconds()/n, "s/psql-by-hand")
	b.ReportMetric(ours.Seconds()/transfer.Seconds(), "x-transfer")
	b.ReportMetric(ours.Seconds()/(transfer+apply).Seconds(), "x-by-hand")
}
