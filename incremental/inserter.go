package incremental

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Inserter replicates a table whose rows are only ever inserted, each with
// a control value (a time or a serial number) that grows with every insert:
// each Refresh appends the rows above the last value pulled.
type Inserter struct{ j *job }

var _ replication.Replicator = (*Inserter)(nil)

// NewInserter returns the Inserter of source table table, read through the
// source pool, into the destination database behind dest. cfg.Control is
// required. It does not touch either database.
func NewInserter(source, dest *pgxpool.Pool, table replication.Table, cfg *Config) (*Inserter, error) {
	j, err := newJob(source, dest, table, cfg, false)
	if err != nil {
		return nil, err
	}
	return &Inserter{j: j}, nil
}

// Dest returns the destination table.
func (r *Inserter) Dest() replication.Table { return r.j.dst }

// Setup records the job in the catalog, creates the destination table
// (with the source's indexes, built after the rows are loaded) and pulls
// every row up to the boundary unless Options.SkipPull. An existing
// destination table is adopted as it is: nothing is pulled into it and its
// highest control value becomes the last value. With nothing pulled, the
// last value is the setup time less the boundary (Time) or none (Serial).
// A failure leaves nothing behind.
func (r *Inserter) Setup(ctx context.Context) error { return r.j.setup(ctx) }

// Refresh appends the source rows whose control values lie above the last
// value and not above the upper bound, at most Options.BatchLimit rows
// without splitting a control value, and stores the new last value in the
// same destination transaction. It does not run (Result.Skipped) in the
// daylight-saving window of a Time job, and fails with ErrLocked when
// another refresh of the table runs.
func (r *Inserter) Refresh(ctx context.Context) (replication.Result, error) { return r.j.refresh(ctx) }

// Repull empties the destination table and pulls every source row up to
// the upper bound again.
func (r *Inserter) Repull(ctx context.Context) (replication.Result, error) {
	return r.j.repullAll(ctx)
}

// RepullRange replaces the destination rows whose control values lie in the
// exclusive range (start, end) with the source's: it deletes them and pulls
// the range again. A zero Value leaves that side open. Only values up to
// the last value pulled are replaced; later rows come with Refresh, and the
// job's state does not change.
func (r *Inserter) RepullRange(ctx context.Context, start, end Value) (replication.Result, error) {
	return r.j.repullRange(ctx, start, end)
}

// Destroy removes the job from the catalog and drops the destination table
// unless opts.KeepTable.
func (r *Inserter) Destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	return r.j.destroy(ctx, opts)
}
