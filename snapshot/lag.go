package snapshot

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

var (
	_ replication.LagReporter = (*Snapshot)(nil)
	_ replication.LagReporter = (*Table)(nil)
)

// LagDetail implements replication.LagReporter: with
// Config.SkipUnchanged, whether the source's statistics show a change since
// the last pull (SourceChanged); without it there is nothing to add to the
// job's age, the time since its last pull started.
func (s *Snapshot) LagDetail(ctx context.Context) (replication.LagDetail, error) {
	var d replication.LagDetail
	job, err := jobOf(ctx, s.catalog, s.dest, s.dst, s.src, replication.KindSnapshot)
	if err != nil {
		return d, err
	}
	var opts jobOptions
	var state snapState
	if err := decodeJSON(job.Config, &opts, "config", s.dst); err != nil {
		return d, err
	}
	if err := decodeJSON(job.State, &state, "state", s.dst); err != nil {
		return d, err
	}
	if !opts.SkipUnchanged || state.Stats == nil {
		return d, nil
	}
	conn, err := s.source.Acquire(ctx)
	if err != nil {
		return d, fmt.Errorf("connect to source: %w", err)
	}
	defer conn.Release()
	src, err := describeSource(ctx, conn, s.src, opts.Columns, opts.Condition, false)
	if err != nil {
		return d, err
	}
	stats, _, err := sourceStats(ctx, conn, src, false)
	if err != nil || stats == nil {
		return d, err
	}
	changed := !stats.equal(state.Stats)
	d.SourceChanged = &changed
	return d, nil
}

// LagDetail implements replication.LagReporter: a Table job has nothing
// to add to its age, the time since its last pull started.
func (t *Table) LagDetail(context.Context) (replication.LagDetail, error) {
	return replication.LagDetail{}, nil
}
