package keyapply

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Counts are the destination rows one apply wrote.
type Counts struct {
	Inserted int64
	Updated  int64
	Deleted  int64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Inserted += o.Inserted
	c.Updated += o.Updated
	c.Deleted += o.Deleted
}

// ExtraColumn is a destination column that a Variant adds to the
// replicated ones.
type ExtraColumn struct {
	Name string
	// Type is the column type as SQL text, e.g. "timestamptz".
	Type string
}

// Variant is what a replication kind built on this package's machinery
// changes: what the queue keeps of a deleted row, what the destination table
// has besides the replicated columns, and how a batch, a repull and a range
// repair are applied. Plain DML replay is this package's own variant; package logdel
// is the other. The capture, fetch, pipeline, state and lifecycle are
// shared.
type Variant interface {
	// Kind is the catalog kind of the jobs.
	Kind() replication.Kind
	// Label names the kind in job-log names, as mimeo does ("DML",
	// "Logdel").
	Label() string
	// KeepsDeleted reports whether the queue stores a deleted row whole,
	// with its deletion time, and batches carry those rows (Batch.AddDeleted, Batch.DeletedTable).
	KeepsDeleted() bool
	// ExtraColumns are added to a new destination table after the
	// replicated columns.
	ExtraColumns() []ExtraColumn
	// AdaptIndex turns a source index into the statement that makes it on
	// dest (quoted), or returns "" to leave it out.
	AdaptIndex(ix replication.Index, dest string) string
	// FinishDest runs in the setup transaction after the destination's rows
	// and indexes are made.
	FinishDest(ctx context.Context, tx pgx.Tx, spec *TableSpec) error
	// Apply makes the destination rows of the batch's keys match the
	// batch, in the batch's transaction.
	Apply(ctx context.Context, b *Batch) (Counts, error)
	// Reload replaces the destination's rows with every source row
	// (repull): load copies them into the destination table and returns
	// their number; it may run only after the variant has emptied what it
	// replaces, in the same transaction. b holds what the queue keeps of
	// deleted rows (for variants that keep them).
	Reload(ctx context.Context, b *Batch, load func(ctx context.Context, freeze bool) (int64, error)) (Counts, error)
	// Repair makes the destination's rows in the key ranges a range repair
	// re-pulls match the source's (Replicator.RepairRanges), in the batch's
	// transaction: b holds the source rows of the ranges as current rows
	// (RowsTable), and inRanges is SQL that is true when the key of
	// destination row d lies in one of the ranges. A key of the ranges has
	// at most one row in b, and every key of b lies in the ranges.
	Repair(ctx context.Context, b *Batch, inRanges string) (Counts, error)
}
