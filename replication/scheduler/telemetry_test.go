package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// sums returns, for the instrument named name, each data point's value
// (counters: the sum; histograms: the count) by the attribute key.
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string, key attribute.Key) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(key)
					out[v.AsString()] += float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(key)
					out[v.AsString()] += float64(p.Count)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(key)
					out[v.AsString()] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(key)
					out[v.AsString()] = p.Value
				}
			}
		}
	}
	return out
}

// TestTelemetry: the runs' metrics, read through the SDK's manual reader,
// carry the rows, bytes, durations, failures and skips of refreshes; every
// run is a span with a child span per step; the lag gauge reports every
// job's lag.
func TestTelemetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	collect := func() metricdata.ResourceMetrics {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		return rm
	}

	orders := b.job(t, replication.KindDML, "orders", time.Hour)
	prices := b.job(t, replication.KindSnapshot, "prices", time.Hour)
	b.change(t, orders, replication.KindDML, 0) // 5 updated, 5 inserted
	b.change(t, prices, replication.KindSnapshot, 0)
	b.makeDue(t)
	var got outcomes
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{OnRun: got.add, MeterProvider: mp, TracerProvider: tp}))
	require.NoError(t, err)
	require.NoError(t, s.RunDue(ctx))
	require.Len(t, got.list(), 2)
	rows := map[string]float64{}
	var bytes float64
	for _, o := range got.list() {
		require.NoError(t, o.Err)
		rows[o.Dest.Schema+"."+o.Dest.Name] = float64(o.Result.Rows())
		bytes += float64(o.Result.Bytes)
	}
	require.Equal(t, 10.0, rows["public.orders"])
	rm := collect()
	require.Equal(t, rows, sums(t, rm, replication.MetricRows, "pgmimeo.dest"))
	require.Equal(t, map[string]float64{"ok": 2}, sums(t, rm, replication.MetricRunDuration, "pgmimeo.outcome"))
	require.Equal(t, bytes, sums(t, rm, replication.MetricBytes, "pgmimeo.op")["refresh"])
	require.Empty(t, sums(t, rm, replication.MetricFailures, "pgmimeo.dest"))

	// A failure and a skip.
	pgtest.MustExec(t, b.Source, `ALTER TABLE public.prices RENAME TO prices_gone`)
	b.makeDue(t)
	require.NoError(t, s.RunDue(ctx))
	rm = collect()
	require.Equal(t, map[string]float64{"public.prices": 1}, sums(t, rm, replication.MetricFailures, "pgmimeo.dest"))
	pgtest.MustExec(t, b.Source, `ALTER TABLE public.prices_gone RENAME TO prices`)
	conn, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	lock, err := replication.AcquireLock(ctx, conn, prices, nil)
	require.NoError(t, err)
	snap, err := snapshot.Open(ctx, b.Source, b.Dest, prices, &snapshot.Config{Options: replication.Options{MeterProvider: mp, TracerProvider: tp}})
	require.NoError(t, err)
	_, err = snap.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrLocked)
	require.NoError(t, lock.Release(ctx))
	conn.Release()
	// The second round's dml refresh had nothing queued: a skip too.
	require.Equal(t, map[string]float64{replication.SkipLocked: 1, "no changes queued": 1}, sums(t, collect(), replication.MetricSkips, "pgmimeo.reason"))

	// Spans: one per run, its steps as children.
	var runs, steps int
	byID := map[string]string{}
	for _, sp := range spans.Ended() {
		byID[sp.SpanContext().SpanID().String()] = sp.Name()
	}
	for _, sp := range spans.Ended() {
		if sp.Name() == "pgmimeo.refresh" {
			runs++
			require.False(t, sp.Parent().IsValid())
			continue
		}
		steps++
		require.Equal(t, "pgmimeo.refresh", byID[sp.Parent().SpanID().String()], "step %q", sp.Name())
	}
	require.Equal(t, 5, runs, "two refreshes, an idle one, a failure and a skip")
	require.Greater(t, steps, 4)

	// The detail gauges, while the scheduler runs: a dml job's backlog.
	b.change(t, orders, replication.KindDML, 1)
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool {
		return sums(t, collect(), scheduler.MetricBacklog, "pgmimeo.dest")["public.orders"] == 11
	}, 10*time.Second, 50*time.Millisecond, "6 updated rows (ids ending in 1, 1001 among them) and 5 inserted ones queued")
	stopRun()
	require.NoError(t, <-done)
	require.Empty(t, sums(t, collect(), scheduler.MetricBacklog, "pgmimeo.dest"), "unregistered when Run returns")

	// The lag gauge.
	reg, err := replication.NewCatalog("").ObserveLag(mp, b.Dest)
	require.NoError(t, err)
	defer func() { _ = reg.Unregister() }()
	lags := sums(t, collect(), replication.MetricLag, "pgmimeo.dest")
	require.Len(t, lags, 2)
	for dest, secs := range lags {
		require.Greater(t, secs, 0.0, dest)
		require.Less(t, secs, 60.0, dest)
	}
}
