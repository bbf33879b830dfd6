package replication

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// InstrumentationName names pgmimeo's meter and tracer.
const InstrumentationName = "github.com/pgmimeo/pgmimeo"

// The metric names every run reports (see Options.MeterProvider), with the
// attributes pgmimeo.op, pgmimeo.kind and pgmimeo.dest (schema.table,
// unquoted); pgmimeo.outcome on the duration ("ok", "failed" or
// "skipped"), pgmimeo.change on rows ("inserted", "updated", "deleted"),
// pgmimeo.reason on skips.
const (
	MetricRunDuration = "pgmimeo.run.duration" // histogram, seconds
	MetricRows        = "pgmimeo.run.rows"     // counter, rows written
	MetricBytes       = "pgmimeo.run.bytes"    // counter, bytes moved
	MetricFailures    = "pgmimeo.run.failures" // counter, failed runs
	MetricSkips       = "pgmimeo.run.skips"    // counter, skipped runs
	MetricLag         = "pgmimeo.job.lag"      // gauge, seconds (Catalog.ObserveLag)
)

// instruments are the instruments of one MeterProvider.
type instruments struct {
	duration                     metric.Float64Histogram
	rows, bytes, failures, skips metric.Int64Counter
}

var (
	instrumentsMu sync.Mutex
	instrumentsOf = map[metric.MeterProvider]*instruments{}
)

// instrumentsFor returns mp's instruments, made on first use; nil for nil.
func instrumentsFor(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		return nil, nil
	}
	instrumentsMu.Lock()
	defer instrumentsMu.Unlock()
	if in, ok := instrumentsOf[mp]; ok {
		return in, nil
	}
	m := mp.Meter(InstrumentationName)
	var in instruments
	var err error
	if in.duration, err = m.Float64Histogram(MetricRunDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of pgmimeo job runs (setup, refresh, repull, repair, destroy)"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		dst        *metric.Int64Counter
		name, unit string
		desc       string
	}{
		{&in.rows, MetricRows, "{row}", "Destination rows written by pgmimeo job runs"},
		{&in.bytes, MetricBytes, "By", "Row data moved by pgmimeo job runs"},
		{&in.failures, MetricFailures, "{run}", "Failed pgmimeo job runs"},
		{&in.skips, MetricSkips, "{run}", "Skipped pgmimeo job runs (lock held, or nothing to do)"},
	} {
		if *c.dst, err = m.Int64Counter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.desc)); err != nil {
			return nil, err
		}
	}
	instrumentsOf[mp] = &in
	return &in, nil
}

// runAttrs are the attributes of a run's metrics and span.
func (r Run) runAttrs() []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("pgmimeo.op", string(r.Op)),
		attribute.String("pgmimeo.kind", string(r.Kind)),
		attribute.String("pgmimeo.dest", r.Dest.Schema+"."+r.Dest.Name),
	}
}

// startSpan starts the run's span on o's tracer provider (a no-op one by
// default).
func (r Run) startSpan(ctx context.Context, o *Options) (context.Context, trace.Span, trace.Tracer) {
	tp := o.TracerProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	tracer := tp.Tracer(InstrumentationName)
	ctx, span := tracer.Start(ctx, "pgmimeo."+string(r.Op), trace.WithAttributes(r.runAttrs()...))
	return ctx, span, tracer
}

// measure records a run's metrics and ends its span.
func (r Run) measure(ctx context.Context, o *Options, span trace.Span, res Result, err error) {
	ctx = context.WithoutCancel(ctx)
	outcome := "ok"
	switch {
	case res.Skipped:
		outcome = "skipped"
	case err != nil:
		outcome = "failed"
	}
	attrs := r.runAttrs()
	span.SetAttributes(attribute.String("pgmimeo.outcome", outcome), attribute.Int64("pgmimeo.rows", res.Rows()), attribute.Int64("pgmimeo.bytes", res.Bytes))
	if err != nil && !res.Skipped {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	in, ierr := instrumentsFor(o.MeterProvider)
	if ierr != nil || in == nil {
		if ierr != nil && o.Logger != nil {
			o.Logger.Warn("make metric instruments", "error", ierr)
		}
		return
	}
	set := metric.WithAttributes(attrs...)
	in.duration.Record(ctx, res.Duration.Seconds(), metric.WithAttributes(append(attrs, attribute.String("pgmimeo.outcome", outcome))...))
	for change, n := range map[string]int64{"inserted": res.Inserted, "updated": res.Updated, "deleted": res.Deleted} {
		if n > 0 {
			in.rows.Add(ctx, n, metric.WithAttributes(append(attrs, attribute.String("pgmimeo.change", change))...))
		}
	}
	if res.Bytes > 0 {
		in.bytes.Add(ctx, res.Bytes, set)
	}
	switch {
	case res.Skipped:
		in.skips.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String("pgmimeo.reason", res.SkipReason))...))
	case err != nil:
		in.failures.Add(ctx, 1, set)
	}
}

// ObserveLag registers, on mp, the gauge MetricLag of every job of the
// catalog: how old each destination's data may be, in seconds (see
// Job.Lag), read from the catalog on db at each collection, with the
// attributes pgmimeo.kind, pgmimeo.dest and pgmimeo.level. Jobs whose lag
// is unknown are left out. Unregister the result when done.
func (c *Catalog) ObserveLag(mp metric.MeterProvider, db DB) (metric.Registration, error) {
	m := mp.Meter(InstrumentationName)
	g, err := m.Float64ObservableGauge(MetricLag, metric.WithUnit("s"),
		metric.WithDescription("How old a pgmimeo destination's data may be: an upper bound of its lag behind the source"))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		jobs, err := c.Jobs(ctx, db, nil)
		if err != nil {
			return fmt.Errorf("observe lag: %w", err)
		}
		for _, j := range jobs {
			lag := j.Lag()
			if lag.Age == nil {
				continue
			}
			o.ObserveFloat64(g, lag.Age.Seconds(), metric.WithAttributes(
				attribute.String("pgmimeo.kind", string(j.Kind)),
				attribute.String("pgmimeo.dest", j.Dest.Schema+"."+j.Dest.Name),
				attribute.String("pgmimeo.level", string(lag.Level))))
		}
		return nil
	}, g)
}
