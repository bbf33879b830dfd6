package dml_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// BenchmarkTelemetry measures what instrumentation costs a refresh that
// applies 100,000 changed rows: the same job refreshed with the
// OpenTelemetry SDK's meter and tracer providers (a manual reader and a
// span recorder) and without, taking turns, in the same run. Reported: ms
// of each, their ratio, and the lag reads (Catalog.Jobs with Job.Lag, and
// the job's LagDetail) in ms.
func BenchmarkTelemetry(b *testing.B) {
	const rows = 100000
	ctx := context.Background()
	bd := pgtest.Setup(b)
	makeAccounts(b, bd, rows)
	plain, err := dml.New(bd.Source, bd.Dest, pgbenchAccounts, &dml.Config{})
	require.NoError(b, err)
	require.NoError(b, plain.Setup(ctx))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	instrumented, err := dml.Open(ctx, bd.Source, bd.Dest, pgbenchAccounts,
		&dml.Config{Options: replication.Options{MeterProvider: mp, TracerProvider: tp}})
	require.NoError(b, err)
	refresh := func(r *dml.Replicator) time.Duration {
		pgtest.MustExec(b, bd.Source, `UPDATE pgbench_accounts SET abalance = abalance + 1`)
		start := time.Now()
		res, err := r.Refresh(ctx)
		d := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, int64(rows), res.Updated)
		return d
	}
	cat := replication.NewCatalog("")
	var tPlain, tInstr, tLag, tDetail time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			tPlain += refresh(plain)
			tInstr += refresh(instrumented)
		} else {
			tInstr += refresh(instrumented)
			tPlain += refresh(plain)
		}
		start := time.Now()
		jobs, err := cat.Jobs(ctx, bd.Dest, nil)
		require.NoError(b, err)
		require.Equal(b, replication.LagUnknown, jobs[0].Lag().Level) // no period, no threshold
		tLag += time.Since(start)
		start = time.Now()
		_, err = plain.LagDetail(ctx)
		require.NoError(b, err)
		tDetail += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(tPlain.Seconds()/n*1000, "plain_ms")
	b.ReportMetric(tInstr.Seconds()/n*1000, "instrumented_ms")
	b.ReportMetric(tInstr.Seconds()/tPlain.Seconds(), "instrumented/plain")
	b.ReportMetric(float64(rows)*n/tInstr.Seconds(), "rows/s")
	b.ReportMetric(tLag.Seconds()/n*1000, "lag_read_ms")
	b.ReportMetric(tDetail.Seconds()/n*1000, "lag_detail_ms")
}
