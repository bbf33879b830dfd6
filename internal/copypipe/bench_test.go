package copypipe_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// accountsDDL is shaped like pgbench_accounts, without its key: the pipe is
// measured into a bare table, as a full pull loads one.
const accountsDDL = `CREATE TABLE accounts (aid int NOT NULL, bid int, abalance int, filler char(84))`

const benchRows = 1_000_000

// BenchmarkCopyPipe moves 1,000,000 pgbench_accounts-shaped rows between two
// databases of one server through copypipe.Copy, and in the same run through
// `psql -c "COPY … TO STDOUT" | psql -c "COPY … FROM STDIN"`. x_psql is the
// Go pipe's time divided by psql's: below 1 is faster.
func BenchmarkCopyPipe(b *testing.B) {
	bb := pgtest.Setup(b)
	ctx := context.Background()
	pgtest.MustExec(b, bb.Source, accountsDDL)
	pgtest.MustExec(b, bb.Source, `INSERT INTO accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, $1) g`, benchRows)
	pgtest.MustExec(b, bb.Source, `VACUUM ANALYZE accounts`)
	pgtest.MustExec(b, bb.Dest, accountsDDL)

	for _, binary := range []bool{true, false} {
		name := map[bool]string{true: "binary", false: "text"}[binary]
		b.Run(name, func(b *testing.B) {
			spec := copypipe.Spec{Query: `SELECT aid, bid, abalance, filler FROM accounts`, Dest: `"accounts"`, Binary: binary}
			src, err := bb.Source.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Release()
			dst, err := bb.Dest.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer dst.Release()
			var goTime, psqlTime time.Duration
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				pgtest.MustExec(b, bb.Dest, `TRUNCATE accounts`)
				b.StartTimer()
				start := time.Now()
				st, err := copypipe.Copy(ctx, src.Conn().PgConn(), dst.Conn().PgConn(), spec)
				goTime += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if st.Rows != benchRows {
					b.Fatalf("copied %d rows, want %d", st.Rows, benchRows)
				}
				bytes += st.Bytes
			}
			b.StopTimer()
			// The baseline, the same number of times, in the same run.
			for i := 0; i < b.N; i++ {
				pgtest.MustExec(b, bb.Dest, `TRUNCATE accounts`)
				start := time.Now()
				bb.Server.PSQLPipe(b, bb.SourceDB, `COPY accounts TO STDOUT`, bb.DestDB, `COPY accounts FROM STDIN`)
				psqlTime += time.Since(start)
			}
			var n int64
			if err := bb.Dest.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != benchRows {
				b.Fatalf("psql pipe loaded %d rows (%v)", n, err)
			}
			b.ReportMetric(float64(benchRows*b.N)/goTime.Seconds(), "rows/s")
			b.ReportMetric(float64(bytes)/goTime.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(benchRows*b.N)/psqlTime.Seconds(), "psql_rows/s")
			b.ReportMetric(goTime.Seconds()/psqlTime.Seconds(), "x_psql")
		})
	}
}
