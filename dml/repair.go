package dml

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/rangecopy"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

var _ check.RangeRepairer = (*Replicator)(nil)

// RepairRanges re-pulls the key ranges in which a checksum validation of
// the job (diff, from check.ChecksumJob, which compares a DML job by
// the key it replicates by) found the destination's rows to differ from
// the source's. Under the table's refresh lock, it reads the source rows of
// the ranges in one source snapshot, with the job's column filter and row
// condition, stages them with COPY in one destination transaction, and
// there has the variant replace the destination rows of the ranges by them
// (Variant.Repair: plain DML deletes every row of the ranges and inserts
// the staged ones; logdel keeps the rows marked deleted unless their key is
// live on the source again).
//
// The queue, or the logical slot, is not touched and the job's state is
// left as it is: changes queued before or after the repair's snapshot are
// applied by the next refresh, and replaying a key is idempotent, so the
// destination converges on the source with it. Until that refresh, a
// repaired range shows the source as of the repair.
//
// A diff by other key columns than the job's is an error wrapping
// replication.ErrBadOption. While a refresh runs, the repair is skipped as
// a refresh would be (ErrLocked, after LockWait). The repair is logged as a
// job named "Repair DML: schema.table" ("Repair Logdel: …").
func (r *Replicator) RepairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	var res replication.Result
	if diff == nil {
		return res, &replication.OptionError{Field: "diff", Problem: "is nil: pass the result of check.ChecksumJob"}
	}
	if diff.Dest != r.Dest() {
		return res, &replication.OptionError{Field: "diff",
			Problem: fmt.Sprintf("compares %s with %s, not the job's destination %s", diff.Source, diff.Dest, r.Dest())}
	}
	if len(diff.Ranges) == 0 {
		return res, nil
	}
	return r.locked(ctx, replication.OpRepair, r.jobName("Repair "+r.variant.Label()), func(ctx context.Context, run *replication.JobRun, res *replication.Result) error {
		j, err := r.open(ctx)
		if err != nil {
			return err
		}
		if err := checkRepairDiff(diff, j); err != nil {
			return err
		}
		return r.repairRanges(ctx, run, j, diff, res)
	})
}

// checkRepairDiff refuses a checksum of another source, or by other key
// columns than the job's: a range of another key could hold a row whose
// job key is also held by a row outside it.
func checkRepairDiff(diff *check.ChecksumResult, j *job) error {
	if diff.Source != j.spec.Source {
		return &replication.OptionError{Field: "diff",
			Problem: fmt.Sprintf("compares %s with %s, not the job's %s with %s", diff.Source, diff.Dest, j.spec.Source, j.spec.Dest)}
	}
	if !slices.Equal(diff.Key, j.cfg.Key) {
		return &replication.TableError{Table: j.spec.Dest, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("the checksum compared rows by (%s) but the job replicates by (%s): check it with ChecksumConfig.Key empty, then repair",
				sqltext.IdentList("", diff.Key), sqltext.IdentList("", j.cfg.Key))}
	}
	return nil
}

func (r *Replicator) repairRanges(ctx context.Context, run *replication.JobRun, j *job, diff *check.ChecksumResult, res *replication.Result) error {
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return fmt.Errorf("connect to source: %w", err)
	}
	defer src.Release()
	srcTx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin source transaction: %w", err)
	}
	defer func() { _ = srcTx.Rollback(context.WithoutCancel(ctx)) }()
	keys, err := rangecopy.Keys(ctx, srcTx, j.spec.Columns, diff.Key)
	if err != nil {
		return fmt.Errorf("repair %s: %w", j.spec.Dest, err)
	}
	spec := rangecopy.Spec{Source: j.spec.Source.Sanitize(), From: j.spec.ConditionSQL(), Target: j.spec.Dest.Sanitize(),
		Columns: j.spec.ColumnNames(), Key: keys, Binary: j.spec.BinaryRows()}
	ranges := rangecopy.FromKeyRanges(diff.Ranges)
	run.Step(ctx, fmt.Sprintf("Repairing %d key ranges", len(ranges)))
	var counts keyapply.Counts
	var bytes int64
	_, err = r.inBatch(ctx, j.spec, func(b *keyapply.Batch) error {
		if err := stageRanges(ctx, srcTx, b, spec, diff.Ranges); err != nil {
			return err
		}
		bytes = b.Stats().Bytes
		inRanges := make([]string, len(ranges))
		for i, rg := range ranges {
			inRanges[i] = "(" + spec.TargetCondition(rg, "d") + ")"
		}
		var err error
		if counts, err = r.variant.Repair(ctx, b, strings.Join(inRanges, " OR ")); err != nil {
			return fmt.Errorf("repair %s: %w", j.spec.Dest, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	run.Done(ctx, "Deleted %d rows, inserted %d rows", counts.Deleted, counts.Inserted)
	res.Deleted, res.Inserted, res.Bytes = counts.Deleted, counts.Inserted, bytes
	if r.cfg.Logger != nil {
		r.cfg.Logger.Debug("key ranges repaired", append(replication.EventAttrs(r.variant.Kind(), r.Dest()), "ranges", len(ranges),
			"deleted", counts.Deleted, "inserted", counts.Inserted)...)
	}
	return nil
}

// stageRanges copies the source rows of each range, read in srcTx's
// snapshot, into the batch as current rows.
func stageRanges(ctx context.Context, srcTx pgx.Tx, b *keyapply.Batch, spec rangecopy.Spec, ranges []check.KeyRange) error {
	for i, rg := range rangecopy.FromKeyRanges(ranges) {
		_, err := b.CopyQuery(ctx, srcTx.Conn().PgConn(),
			`SELECT mimeo$r.*, true, NULL::timestamptz FROM (`+spec.SourceQuery(rg)+`) mimeo$r`, spec.Binary)
		if err != nil {
			return fmt.Errorf("fetch key range %s of %s: %w", ranges[i], b.Spec().Source, err)
		}
	}
	return nil
}
