package dml

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Target is a job's destination as a capture sees it: the table's shape,
// the variant that applies batches to it, and the catalog row its progress
// is saved in. The trigger queue is one capture; another one (logical
// decoding, files) stages its own batches with Stage, applies them, saves
// its progress with Catalog.SaveState(ctx, tx, JobID, …) and commits, all
// in one destination transaction.
type Target struct {
	Spec    *TableSpec
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
func (t *Target) Stage(ctx context.Context, tx pgx.Tx) (*Batch, error) {
	return StageBatch(ctx, tx, t.Spec, t.Variant)
}
