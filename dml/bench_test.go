package dml_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

var pgbenchAccounts = replication.T("public", "pgbench_accounts")

var benchVariants = []dml.Variant{dml.Plain, dml.LogDeletes}

// makeAccounts creates pgbench's accounts table with rows rows, as
// "pgbench -i" does.
func makeAccounts(tb testing.TB, b *pgtest.Bundle, rows int) {
	pgtest.MustExec(tb, b.Source, `CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84))`)
	pgtest.MustExec(tb, b.Source, `INSERT INTO pgbench_accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, $1) g`, rows)
	pgtest.MustExec(tb, b.Source, `ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)`)
	pgtest.MustExec(tb, b.Source, `VACUUM ANALYZE pgbench_accounts`)
}

// BenchmarkDMLRefresh measures one refresh that applies 100,000 single-row
// changes (updates; the sub-benchmarks deletes and inserts) made to a
// 1,000,000-row pgbench_accounts table, for dml and for logdel, against
// the same-run baseline of COPYing the same 100,000 rows between the same
// databases into an empty table with the same primary key.
//
// Each measurement has a destination of its own, freshly set up (the
// initial copy is not timed), so dml and logdel meet the same conditions;
// they take turns going first. Reported: rows/s and ms of the dml refresh,
// ms of the logdel refresh and of the COPY, and the ratios.
func BenchmarkDMLRefresh(b *testing.B) {
	const rows, changes = 1000000, 100000
	ctx := context.Background()
	bd := pgtest.Setup(b)
	makeAccounts(b, bd, rows)
	pgtest.MustExec(b, bd.Dest, `CREATE TABLE baseline (aid int NOT NULL, bid int, abalance int, filler char(84))`)
	pgtest.MustExec(b, bd.Dest, `ALTER TABLE baseline ADD PRIMARY KEY (aid)`)
	// The changed keys: every tenth account, touched in a scattered order,
	// one single-row statement each.
	keys := fmt.Sprintf(`SELECT (g * 7919) %% %d * 10 + 7 AS aid FROM generate_series(0, %d) g`, changes, changes-1)
	each := func(stmt string) string {
		return `DO $$ DECLARE k int; BEGIN FOR k IN ` + keys + ` LOOP ` + stmt + `; END LOOP; END $$`
	}
	update := each(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = k`)
	del := each(`DELETE FROM pgbench_accounts WHERE aid = k`)
	insert := each(`INSERT INTO pgbench_accounts VALUES (k, (k - 1) / 100000 + 1, 0, '')`)
	changed := `SELECT * FROM pgbench_accounts WHERE aid % 10 = 7`

	baseline := func() time.Duration {
		pgtest.MustExec(b, bd.Dest, `TRUNCATE baseline`)
		pgtest.MustExec(b, bd.Dest, `CHECKPOINT`)
		conn, err := bd.Source.Acquire(ctx)
		require.NoError(b, err)
		defer conn.Release()
		dconn, err := bd.Dest.Acquire(ctx)
		require.NoError(b, err)
		defer dconn.Release()
		start := time.Now()
		st, err := copypipe.Copy(ctx, conn.Conn().PgConn(), dconn.Conn().PgConn(), copypipe.Spec{
			Query: changed, Dest: "baseline", Binary: true})
		d := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, int64(changes), st.Rows)
		return d
	}
	cases := []struct {
		name string
		// change runs before the refresh, undo after it; the baseline
		// copies the changed rows before the change (deleted rows) or after.
		setup, change, undo string
		copyBefore          bool
	}{
		{"updates", "", update, "", false},
		{"deletes", "", del, insert, true},
		{"inserts", del, insert, del, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer()
			if c.setup != "" {
				pgtest.MustExec(b, bd.Source, c.setup)
			}
			var total [2]time.Duration
			var tCopy time.Duration
			for i := 0; i < b.N; i++ {
				for turn := 0; turn < 2; turn++ {
					k := (i + turn) % 2 // 0 dml, 1 logdel
					dest := replication.T("public", []string{"acc_dml", "acc_logdel"}[k])
					r, err := dml.NewVariant(bd.Source, bd.Dest, pgbenchAccounts,
						&dml.Config{Options: replication.Options{Dest: dest}}, benchVariants[k])
					require.NoError(b, err)
					require.NoError(b, r.Setup(ctx))
					if c.copyBefore {
						tCopy += baseline()
					}
					pgtest.MustExec(b, bd.Source, c.change)
					if !c.copyBefore {
						tCopy += baseline()
					}
					pgtest.MustExec(b, bd.Dest, `CHECKPOINT`)
					if k == 0 {
						b.StartTimer()
					}
					start := time.Now()
					res, err := r.Refresh(ctx)
					total[k] += time.Since(start)
					b.StopTimer()
					require.NoError(b, err)
					require.Equal(b, int64(changes), res.Rows(), "%v", res)
					// The changed rows, and the number of all rows, match.
					live := `SELECT aid, bid, abalance, filler FROM ` + dest.Sanitize() + ` WHERE true`
					if k == 1 {
						live += ` AND mimeo_source_deleted IS NULL`
					}
					require.Equal(b, pgtest.Rows(b, bd.Source, `SELECT * FROM pgbench_accounts WHERE aid % 10 = 7`),
						pgtest.Rows(b, bd.Dest, live+` AND aid % 10 = 7`))
					require.Equal(b, pgtest.Rows(b, bd.Source, `SELECT count(*) FROM pgbench_accounts`),
						pgtest.Rows(b, bd.Dest, `SELECT count(*) FROM (`+live+`) l`))
					require.NoError(b, r.Destroy(ctx, nil))
					if c.undo != "" {
						pgtest.MustExec(b, bd.Source, c.undo)
					}
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(changes)*n/total[0].Seconds(), "rows/s")
			b.ReportMetric(total[0].Seconds()/n*1000, "dml_ms")
			b.ReportMetric(total[1].Seconds()/n*1000, "logdel_ms")
			b.ReportMetric(tCopy.Seconds()/(2*n)*1000, "copy_ms")
			b.ReportMetric(2*total[0].Seconds()/tCopy.Seconds(), "dml/copy")
			b.ReportMetric(2*total[1].Seconds()/tCopy.Seconds(), "logdel/copy")
			b.ReportMetric(total[1].Seconds()/total[0].Seconds(), "logdel/dml")
		})
	}
}
