package incremental

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/rangecopy"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

var (
	_ check.RangeRepairer = (*Inserter)(nil)
	_ check.RangeRepairer = (*Updater)(nil)
)

// RepairRanges re-pulls the key ranges in which a checksum validation of
// the job (diff, from check.ChecksumJob) found the destination's
// rows to differ from the source's. In one destination transaction under
// the table's refresh lock, it deletes the rows of each range and copies
// in the source's rows of the range that the job has pulled already
// (control value up to its last value), read in one source snapshot with
// the job's column filter and row condition; rows above the last value come
// with the next refresh, as they would have. A row that was updated on the
// source since the last refresh is therefore missing from its range until
// the next refresh, and a row the source deleted (which an Updater keeps)
// is gone. The job's state is left as it is. The repair is logged as a job
// named "Repair Updater: schema.table"; while a refresh runs it is skipped
// as a refresh would be.
func (r *Updater) RepairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	return r.j.repairRanges(ctx, diff)
}

// RepairRanges re-pulls the key ranges in which a checksum validation of
// the job found the destination's rows to differ from the source's, as
// Updater.RepairRanges does; the repair is logged as "Repair Inserter:
// schema.table". The checksum needs a key: the source's primary key or a
// unique index, or ChecksumConfig.Key.
func (r *Inserter) RepairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	return r.j.repairRanges(ctx, diff)
}

func (j *job) repairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	if diff == nil {
		return replication.Result{}, &replication.OptionError{Field: "diff", Problem: "is nil: pass the result of check.ChecksumJob"}
	}
	if diff.Source != j.src || diff.Dest != j.dst {
		return replication.Result{}, &replication.OptionError{Field: "diff",
			Problem: fmt.Sprintf("compares %s with %s, not the job's %s with %s", diff.Source, diff.Dest, j.src, j.dst)}
	}
	if len(diff.Ranges) == 0 {
		return replication.Result{}, nil
	}
	return j.passRun(ctx, replication.OpRepair, "Repair", func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass) (replication.Result, error) {
		return j.repairBody(ctx, conn, run, ps, diff)
	})
}

func (j *job) repairBody(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass, diff *check.ChecksumResult) (res replication.Result, err error) {
	p, st := ps.p, ps.l.state
	keys, err := rangecopy.Keys(ctx, ps.s.tx, p.cols, diff.Key)
	if err != nil {
		return res, &replication.TableError{Table: j.dst, Err: fmt.Errorf("%w: %w", replication.ErrBadOption, err),
			Fix: "check the job with a key among its replicated columns, then repair"}
	}
	// Only what the job has pulled: nothing before its first pull.
	pulled := "false"
	if st.LastValue != nil {
		pulled = p.ctl.ident() + " <= " + p.ctl.lit(*st.LastValue)
	}
	tx, err := j.beginDest(ctx, conn)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, destCols, err := j.destColumns(ctx, tx, p)
	if err != nil {
		return res, err
	}
	run.Step(ctx, fmt.Sprintf("Repairing %d key ranges up to control value %s", len(diff.Ranges), st.last()))
	spec := rangecopy.Spec{Source: p.info.Table.Sanitize(), From: p.where(), SourceFilter: pulled,
		Target: j.dst.Sanitize(), Columns: p.colNames(), Key: keys, Binary: copypipe.CanBinary(p.cols, destCols)}
	cs, err := rangecopy.Apply(ctx, ps.s.tx.Conn().PgConn(), tx, spec, rangecopy.FromKeyRanges(diff.Ranges))
	if err != nil {
		return res, fmt.Errorf("repair %s: %w", j.dst, err)
	}
	run.Done(ctx, "Deleted %d rows, inserted %d rows", cs.Deleted, cs.Inserted)
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit repair of %s: %w", j.dst, err)
	}
	res.Deleted, res.Inserted, res.Bytes = cs.Deleted, cs.Inserted, cs.Bytes
	return res, nil
}
