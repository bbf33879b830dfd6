package export_test

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// BenchmarkExportImport100k measures one export and import of 100,000
// changed rows (every row of a pgbench_accounts-like table updated),
// acknowledgement included. The baseline, in the same run, is the least a
// file transfer can do: COPY the same rows to a file and COPY the file into
// an empty table without indexes. Reported: changed rows/s, MB/s of batch
// files, and the time as a multiple of the baseline.
func BenchmarkExportImport100k(b *testing.B) {
	const n = 100_000
	bb := pgtest.Setup(b)
	const ddl = `CREATE TABLE public.accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))`
	pgtest.MustExec(b, bb.Source, ddl)
	pgtest.MustExec(b, bb.Dest, ddl+`; CREATE TABLE public.baseline (aid int, bid int, abalance int, filler char(84))`)
	pgtest.MustExec(b, bb.Source, `INSERT INTO public.accounts SELECT g, g / 10000, 0, '' FROM generate_series(1, $1) g`, n)
	table := replication.T("public", "accounts")
	ex, err := export.NewExporter(bb.Source, table, &export.ExporterConfig{Key: "aid"})
	require.NoError(b, err)
	require.NoError(b, ex.Install(ctx))
	im, err := export.NewImporter(bb.Dest, nil)
	require.NoError(b, err)
	require.NoError(b, im.Install(ctx))
	dir := b.TempDir()
	target := export.Target{Host: "bench", Database: "bench"}
	ship := func() *export.ExportResult {
		res, err := ex.Export(ctx, target, dir)
		require.NoError(b, err)
		r, err := im.Import(ctx, res.Dir)
		require.NoError(b, err)
		_, err = ex.Acknowledge(ctx, r.AckPath)
		require.NoError(b, err)
		require.NoError(b, os.RemoveAll(res.Dir))
		return res
	}
	ship() // the full first batch
	pgtest.MustExec(b, bb.Source, `VACUUM ANALYZE public.accounts`)
	pgtest.MustExec(b, bb.Dest, `VACUUM ANALYZE public.accounts`)

	baseFile := filepath.Join(dir, "baseline.copy")
	baseline := func() time.Duration {
		pgtest.MustExec(b, bb.Dest, `TRUNCATE public.baseline`)
		start := time.Now()
		f, err := os.Create(baseFile)
		require.NoError(b, err)
		w := bufio.NewWriterSize(f, 1<<20)
		conn, err := bb.Source.Acquire(ctx)
		require.NoError(b, err)
		_, err = conn.Conn().PgConn().CopyTo(ctx, w, `COPY public.accounts TO STDOUT`)
		conn.Release()
		require.NoError(b, err)
		require.NoError(b, w.Flush())
		require.NoError(b, f.Sync())
		require.NoError(b, f.Close())
		f, err = os.Open(baseFile)
		require.NoError(b, err)
		dconn, err := bb.Dest.Acquire(ctx)
		require.NoError(b, err)
		tag, err := dconn.Conn().PgConn().CopyFrom(ctx, f, `COPY public.baseline FROM STDIN`)
		dconn.Release()
		f.Close()
		require.NoError(b, err)
		require.Equal(b, int64(n), tag.RowsAffected())
		return time.Since(start)
	}

	var took, base time.Duration
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pgtest.MustExec(b, bb.Source, `UPDATE public.accounts SET abalance = abalance + 1`)
		base += baseline()
		b.StartTimer()
		start := time.Now()
		res := ship()
		took += time.Since(start)
		require.Equal(b, int64(n), res.Manifest.Rows.Rows)
		bytes += res.Manifest.IDs.Bytes + res.Manifest.Rows.Bytes + res.Manifest.Columns.Bytes
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/1e6/took.Seconds(), "MB/s")
	b.ReportMetric(took.Seconds()/base.Seconds(), "x-baseline")
	b.ReportMetric(base.Seconds()/float64(b.N), "baseline-s/op")
	require.Equal(b, pgtest.Rows(b, bb.Source, `SELECT * FROM public.accounts`), pgtest.Rows(b, bb.Dest, `SELECT * FROM public.accounts`))
}
