package dml

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Phase tells a test hook which backends are at work.
type Phase = phase

// SetHooks places fault-injection hooks in r, for tests: afterFetch runs
// when a chunk is staged, midApply after its apply statements and before
// the commit, afterCommit after the destination commit and before the
// source queue is cleaned up.
func SetHooks(r *Replicator, afterFetch, midApply, afterCommit func(ctx context.Context, p Phase) error) {
	r.hooks.afterFetch, r.hooks.midApply, r.hooks.afterCommit = afterFetch, midApply, afterCommit
}

// SetMaxImageBytes caps the row images a refresh of r holds (logical
// capture) at n bytes, for tests.
func SetMaxImageBytes(r *Replicator, n int64) { r.hooks.maxImageBytes = n }

// Variant is the apply variant a job runs, for tests that run both.
type Variant = keyapply.Variant

// Counts are the destination rows one apply wrote.
type Counts = keyapply.Counts

// Plain and LogDeletes are the two variants.
var Plain, LogDeletes = keyapply.Plain, keyapply.KeepDeleted

// NewVariant is New with Config.KeepDeleted set as v says.
func NewVariant(source, dest *pgxpool.Pool, table replication.Table, cfg *Config, v Variant) (*Replicator, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.KeepDeleted = v.KeepsDeleted()
	return New(source, dest, table, &c)
}

// Target is a job's destination as a capture other than the trigger queue
// sees it, for the test that applies changes held as values.
type Target struct {
	Spec    *keyapply.TableSpec
	Variant Variant
	JobID   int64
	Catalog *replication.Catalog
}

// Target opens the job and returns its destination.
func (r *Replicator) Target(ctx context.Context) (*Target, error) {
	j, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	return &Target{Spec: j.spec, Variant: r.variant, JobID: j.row.ID, Catalog: r.catalog}, nil
}

// Stage creates a batch in tx, a transaction on the destination.
func (t *Target) Stage(ctx context.Context, tx pgx.Tx) (*keyapply.Batch, error) {
	return keyapply.StageBatch(ctx, tx, t.Spec, t.Variant)
}

// DeletedAtColumn is the column of a kept deletion's time.
const DeletedAtColumn = keyapply.DeletedAtColumn

// SpoolOnce runs one read of r's slot into its spool, for tests.
func SpoolOnce(ctx context.Context, r *Replicator) (more bool, err error) {
	conn, err := replication.AcquireLive(ctx, r.dest)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	return r.spoolOnce(ctx, conn)
}

// SetSpoolHooks places fault-injection hooks in r's spool reads, for
// tests: before and after the destination commit; rowBytes, when not 0,
// is the size past which a spool row is written.
func SetSpoolHooks(r *Replicator, rowBytes int, before, after func(ctx context.Context, p Phase) error) {
	r.hooks.spoolRowBytes, r.hooks.beforeSpoolCommit, r.hooks.afterSpoolCommit = rowBytes, before, after
}

// SetSpooling makes r's refreshes take a Spool of the job as running
// (they apply the spool alone) or as not running (they read the slot after
// the spool), whatever runs, for tests that read the slot with SpoolOnce.
func SetSpooling(r *Replicator, running bool) { r.hooks.spooling = &running }
