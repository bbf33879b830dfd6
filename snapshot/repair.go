package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/rangecopy"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

var (
	_ check.RangeRepairer = (*Snapshot)(nil)
	_ check.RangeRepairer = (*Table)(nil)
)

// RepairRanges re-pulls the key ranges in which a checksum validation of
// the job (diff, from check.ChecksumJob) found the view's rows to
// differ from the source's, into the table the view shows: in one
// destination transaction under the view's refresh lock, it deletes the
// rows of each range and copies the source's rows of the range in, read in
// one source snapshot with the job's column filter and row condition.
// Readers of the view see the repair whole when it commits. The job's state
// is left as it is. It fails with ErrLocked (after LockWait) while a
// refresh runs, and with ErrBadOption when the source's columns changed
// since the last refresh (refresh, check and repair again). The repair is
// logged as a job named "Repair Snap: schema.view".
func (s *Snapshot) RepairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	r := &repairer{source: s.source, dest: s.dest, src: s.src, dst: s.dst, kind: replication.KindSnapshot,
		catalog: s.catalog, opts: s.cfg.Options, load: s.cfg.LoadOptions, name: "Repair Snap"}
	r.target = func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, src *source) (replication.Table, error) {
		var state snapState
		if err := decodeJSON(job.State, &state, "state", s.dst); err != nil {
			return replication.Table{}, err
		}
		if !sameColumns(signature(src.cols), state.Columns) {
			return replication.Table{}, columnsChanged(s.dst)
		}
		dst, err := inspectDest(ctx, conn, s.dst)
		if err != nil {
			return replication.Table{}, err
		}
		if !dst.intact(src.names()) {
			return replication.Table{}, &replication.TableError{Table: s.dst, Err: replication.ErrBadOption,
				Fix: "the snapshot's view or tables are not as its last refresh left them: refresh the job first"}
		}
		return snapTable(s.dst, dst.active), nil
	}
	return r.run(ctx, diff)
}

// RepairRanges re-pulls the key ranges in which a checksum validation of
// the job (diff, from check.ChecksumJob) found the destination's
// rows to differ from the source's: in one destination transaction under
// the table's refresh lock, it deletes the rows of each range and copies
// the source's rows of the range in, read in one source snapshot with the
// job's column filter and row condition, then resets the job's sequences.
// Foreign keys of other tables that reference deleted rows act as they do
// on any DELETE. Errors are as for Snapshot.RepairRanges; the repair is
// logged as a job named "Repair Table: schema.table".
func (t *Table) RepairRanges(ctx context.Context, diff *check.ChecksumResult) (replication.Result, error) {
	r := &repairer{source: t.source, dest: t.dest, src: t.src, dst: t.dst, kind: replication.KindTableReload,
		catalog: t.catalog, opts: t.cfg.Options, load: t.cfg.LoadOptions, name: "Repair Table"}
	var seqs []replication.Table
	r.target = func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, src *source) (replication.Table, error) {
		var state tableState
		var opts jobOptions
		if err := decodeJSON(job.State, &state, "state", t.dst); err != nil {
			return replication.Table{}, err
		}
		if err := decodeJSON(job.Config, &opts, "config", t.dst); err != nil {
			return replication.Table{}, err
		}
		if !state.Loaded || !sameColumns(signature(src.cols), state.Columns) {
			return replication.Table{}, columnsChanged(t.dst)
		}
		seqs = opts.Sequences
		return t.dst, nil
	}
	r.finish = func(ctx context.Context, tx pgx.Tx, run *replication.JobRun) error {
		return t.resetSequences(ctx, tx, seqs, run)
	}
	return r.run(ctx, diff)
}

func columnsChanged(dst replication.Table) error {
	return &replication.TableError{Table: dst, Err: replication.ErrBadOption,
		Fix: "the source's columns changed since the last refresh (or it never loaded): refresh the job, then check and repair again"}
}

// repairer is what a range repair of either kind needs.
type repairer struct {
	source, dest *pgxpool.Pool
	src, dst     replication.Table
	kind         replication.Kind
	catalog      *replication.Catalog
	opts         replication.Options
	load         LoadOptions
	name         string
	// target checks the job's state and returns the table to repair.
	target func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, src *source) (replication.Table, error)
	// finish, if set, runs in the repair's transaction before it commits.
	finish func(ctx context.Context, tx pgx.Tx, run *replication.JobRun) error
}

func (r *repairer) run(ctx context.Context, diff *check.ChecksumResult) (res replication.Result, err error) {
	if err := checkDiff(diff, r.src, r.dst); err != nil {
		return res, err
	}
	if len(diff.Ranges) == 0 {
		return res, nil
	}
	return replication.Run{Op: replication.OpRepair, Kind: r.kind, Dest: r.dst, Name: replication.JobName(r.name, r.dst),
		Pool: r.dest, Catalog: r.catalog, Options: &r.opts}.Do(ctx, func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error) {
		return r.repair(ctx, conn, run, diff)
	})
}

// repair is the body of a repair run, on the locked session conn.
func (r *repairer) repair(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, diff *check.ChecksumResult) (res replication.Result, err error) {
	job, err := jobOf(ctx, r.catalog, conn, r.dst, r.src, r.kind)
	if err != nil {
		return res, err
	}
	var opts jobOptions
	if err := decodeJSON(job.Config, &opts, "config", r.dst); err != nil {
		return res, err
	}
	srcConn, err := r.source.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("connect to source: %w", err)
	}
	defer srcConn.Release()
	src, err := describeSource(ctx, srcConn, r.src, opts.Columns, opts.Condition, false)
	if err != nil {
		return res, err
	}
	target, err := r.target(ctx, conn, job, src)
	if err != nil {
		return res, err
	}
	st, err := r.repull(ctx, conn, srcConn, src, target, diff, run)
	if err != nil {
		return res, err
	}
	return replication.Result{Inserted: st.Inserted, Deleted: st.Deleted, Bytes: st.Bytes}, nil
}

// repull deletes and copies the ranges in one destination transaction,
// reading the source in one REPEATABLE READ snapshot.
func (r *repairer) repull(ctx context.Context, conn, srcConn *pgxpool.Conn, src *source, target replication.Table,
	diff *check.ChecksumResult, run *replication.JobRun) (st rangecopy.Stats, err error) {
	keys, err := rangecopy.Keys(ctx, srcConn, src.cols, diff.Key)
	if err != nil {
		return st, &replication.TableError{Table: r.dst, Err: fmt.Errorf("%w: %w", replication.ErrBadOption, err),
			Fix: "check the job with the key of its source (leave ChecksumConfig.Key empty), then repair"}
	}
	info, err := replication.Describe(ctx, conn, target)
	if err != nil {
		return st, err
	}
	dstCols := make([]replication.Column, len(src.cols))
	for i, c := range src.cols {
		d, ok := info.Column(c.Name)
		if !ok {
			return st, &replication.ColumnError{Table: target, Column: c.Name, Err: replication.ErrColumnNotFound,
				Fix: "refresh the job first, which rebuilds the destination with the source's columns"}
		}
		dstCols[i] = d
	}
	srcTx, err := srcConn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, fmt.Errorf("begin source transaction: %w", err)
	}
	defer func() { _ = srcTx.Rollback(context.WithoutCancel(ctx)) }()
	tx, err := beginLoad(ctx, conn, r.load)
	if err != nil {
		return st, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	run.Step(ctx, fmt.Sprintf("Repairing %d key ranges of %s", len(diff.Ranges), target))
	spec := rangecopy.Spec{Source: src.table().Sanitize(), From: src.cond, Target: target.Sanitize(),
		Columns: src.names(), Key: keys, Binary: copypipe.CanBinary(src.cols, dstCols)}
	if st, err = rangecopy.Apply(ctx, srcTx.Conn().PgConn(), tx, spec, rangecopy.FromKeyRanges(diff.Ranges)); err != nil {
		return st, fmt.Errorf("repair %s: %w", r.dst, err)
	}
	run.Done(ctx, "Deleted %d rows, inserted %d rows", st.Deleted, st.Inserted)
	if r.finish != nil {
		if err := r.finish(ctx, tx, run); err != nil {
			return st, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return st, fmt.Errorf("commit repair of %s: %w", r.dst, err)
	}
	return st, nil
}

// checkDiff refuses a checksum result of other tables than the job's.
func checkDiff(diff *check.ChecksumResult, src, dst replication.Table) error {
	if diff == nil {
		return &replication.OptionError{Field: "diff", Problem: "is nil: pass the result of check.ChecksumJob"}
	}
	if diff.Source != src || diff.Dest != dst {
		return &replication.OptionError{Field: "diff", Problem: fmt.Sprintf("compares %s with %s, not the job's %s with %s",
			diff.Source, diff.Dest, src, dst)}
	}
	return nil
}
