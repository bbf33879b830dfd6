package replication_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// BenchmarkRunOverhead measures the one job run around an empty body
// (session, lock, clock, bookkeeping, event), without telemetry and with
// the OpenTelemetry SDK's providers, in the same run: what instrumentation
// adds to every run, whatever its size.
func BenchmarkRunOverhead(b *testing.B) {
	ctx := context.Background()
	bd := pgtest.Setup(b)
	cat := replication.NewCatalog("")
	require.NoError(b, cat.Migrate(ctx, bd.Dest))
	dest := replication.T("public", "t")
	require.NoError(b, cat.CreateJob(ctx, bd.Dest, (&replication.Options{}).NewJob(replication.KindSnapshot, dest, dest, nil, nil)))
	body := func(context.Context, *pgxpool.Conn, *replication.JobRun) (replication.Result, error) {
		return replication.Result{Inserted: 1, Bytes: 10}, nil
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	for _, c := range []struct {
		name string
		o    replication.Options
	}{{"plain", replication.Options{}}, {"instrumented", replication.Options{MeterProvider: mp, TracerProvider: tp}}} {
		b.Run(c.name, func(b *testing.B) {
			run := replication.Run{Op: replication.OpRefresh, Kind: replication.KindSnapshot, Dest: dest, Name: "bench",
				Pool: bd.Dest, Catalog: cat, Options: &c.o}
			for i := 0; i < b.N; i++ {
				if _, err := run.Do(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
