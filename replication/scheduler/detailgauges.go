package scheduler

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pgmimeo/pgmimeo/replication"
)

// The gauges of what each job's kind adds to its lag
// (replication.LagDetail), which a scheduler with a MeterProvider reports
// while Run or RunDue runs, read from the sources at each collection.
const (
	MetricBacklog         = "pgmimeo.job.backlog"          // queued changes not applied (dml, logdel by trigger)
	MetricSlotRetained    = "pgmimeo.job.slot.retained"    // bytes of WAL a logical job's slot retains
	MetricSlotUnconfirmed = "pgmimeo.job.slot.unconfirmed" // bytes of WAL past its confirmed position
	MetricRowsBehind      = "pgmimeo.job.rows_behind"      // source rows past an incremental job's last value
	MetricTimeBehind      = "pgmimeo.job.time_behind"      // seconds the source's newest control value is ahead
)

// detailTimeout bounds one collection's reads of the sources.
const detailTimeout = 10 * time.Second

// observeDetails registers the detail gauges of the jobs l runs.
func (l *loopState) observeDetails(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter(replication.InstrumentationName)
	backlog, err := m.Int64ObservableGauge(MetricBacklog, metric.WithUnit("{change}"),
		metric.WithDescription("Changes a pgmimeo dml or logdel job has queued and not applied"))
	if err != nil {
		return nil, err
	}
	retained, err := m.Int64ObservableGauge(MetricSlotRetained, metric.WithUnit("By"),
		metric.WithDescription("WAL a pgmimeo logical job's replication slot retains on the source"))
	if err != nil {
		return nil, err
	}
	unconfirmed, err := m.Int64ObservableGauge(MetricSlotUnconfirmed, metric.WithUnit("By"),
		metric.WithDescription("WAL past a pgmimeo logical job's confirmed position"))
	if err != nil {
		return nil, err
	}
	rows, err := m.Int64ObservableGauge(MetricRowsBehind, metric.WithUnit("{row}"),
		metric.WithDescription("Source rows past a pgmimeo incremental job's last control value"))
	if err != nil {
		return nil, err
	}
	ahead, err := m.Float64ObservableGauge(MetricTimeBehind, metric.WithUnit("s"),
		metric.WithDescription("How far the source's newest control value is ahead of a pgmimeo time incremental job's last one"))
	if err != nil {
		return nil, err
	}
	s := l.s
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, detailTimeout)
		defer cancel()
		jobs, err := s.catalog.Jobs(ctx, s.dest, nil)
		if err != nil {
			return err
		}
		rt := s.cfg.runtime()
		rt.JobLog, rt.MeterProvider, rt.TracerProvider = nil, nil, nil
		for _, j := range jobs {
			if !l.filter.keeps(j) {
				continue
			}
			src, err := l.sources.get(ctx, j.SourceName)
			if err != nil {
				continue // the job's refreshes report it
			}
			r, err := open(ctx, s.methods, j.Kind, src, s.dest, j.Dest, rt)
			if err != nil {
				continue
			}
			lr, ok := r.(replication.LagReporter)
			if !ok {
				continue
			}
			d, err := lr.LagDetail(ctx)
			if err != nil {
				continue
			}
			attrs := metric.WithAttributes(attribute.String("pgmimeo.kind", string(j.Kind)),
				attribute.String("pgmimeo.dest", j.Dest.Schema+"."+j.Dest.Name))
			for g, v := range map[metric.Int64ObservableGauge]*int64{backlog: d.Backlog, retained: d.RetainedWAL,
				unconfirmed: d.UnconfirmedWAL, rows: d.RowsBehind} {
				if v != nil {
					o.ObserveInt64(g, *v, attrs)
				}
			}
			if d.TimeBehind != nil {
				o.ObserveFloat64(ahead, d.TimeBehind.Seconds(), attrs)
			}
		}
		return nil
	}, backlog, retained, unconfirmed, rows, ahead)
}
