package incremental

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Updater replicates a table whose rows are inserted and updated, each
// insert and update setting a control value (a time or a serial number)
// that grows: each Refresh pulls the rows above the last value pulled and
// replaces the destination's rows of the same keys with them, set-wise.
// Deletes on the source are not replicated.
type Updater struct{ j *job }

var _ replication.Replicator = (*Updater)(nil)

// NewUpdater returns the Updater of source table table, read through the
// source pool, into the destination database behind dest. cfg.Control is
// required; cfg.Key is required for a view. It does not touch either
// database.
func NewUpdater(source, dest *pgxpool.Pool, table replication.Table, cfg *Config) (*Updater, error) {
	j, err := newJob(source, dest, table, cfg, true)
	if err != nil {
		return nil, err
	}
	return &Updater{j: j}, nil
}

// Dest returns the destination table.
func (r *Updater) Dest() replication.Table { return r.j.dst }

// Setup records the job in the catalog, creates the destination table
// (with the source's indexes, built after the rows are loaded, and always a
// unique index on the key) and pulls every row up to the boundary unless
// Options.SkipPull. An existing destination table is adopted as it is:
// nothing is pulled into it and its highest control value becomes the last
// value. With nothing pulled, the last value is the setup time less the
// boundary (Time) or none (Serial). A failure leaves nothing behind.
func (r *Updater) Setup(ctx context.Context) error { return r.j.setup(ctx) }

// Refresh pulls the source rows whose control values lie above the last
// value and not above the upper bound, at most Options.BatchLimit rows
// without splitting a control value, into a temporary table, replaces the
// destination rows of their keys with them (DELETE … USING, INSERT …
// SELECT), and stores the new last value in the same destination
// transaction. It does not run (Result.Skipped) in the daylight-saving
// window of a Time job, and fails with ErrLocked when another refresh of
// the table runs.
func (r *Updater) Refresh(ctx context.Context) (replication.Result, error) { return r.j.refresh(ctx) }

// Repull empties the destination table and pulls every source row up to
// the upper bound again.
func (r *Updater) Repull(ctx context.Context) (replication.Result, error) {
	return r.j.repullAll(ctx)
}

// RepullRange replaces the destination rows whose control values lie in the
// exclusive range (start, end) with the source's rows of that range: it
// deletes them, pulls the range and replaces by key. A zero Value leaves
// that side open. Only values up to the last value pulled are replaced;
// later rows come with Refresh, and the job's state does not change.
func (r *Updater) RepullRange(ctx context.Context, start, end Value) (replication.Result, error) {
	return r.j.repullRange(ctx, start, end)
}

// Destroy removes the job from the catalog and drops the destination table
// unless opts.KeepTable.
func (r *Updater) Destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	return r.j.destroy(ctx, opts)
}
