package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// SkipUnchanged is the Result.SkipReason of a refresh skipped, with
// Config.SkipUnchanged, because the source's published statistics show no
// change since the last refresh.
const SkipUnchanged = "the source's published statistics show no insert, update, delete or truncate since the last refresh"

// Refresh brings the destination up to date with the source under the
// destination's advisory lock (see Options.LockWait).
//
// With Config.SkipUnchanged, when the source's published statistics show
// no change since the last refresh and its columns have not changed, the
// refresh is skipped (Result.Skipped, SkipReason SkipUnchanged; see
// Config.SkipUnchanged for what that guarantees). Otherwise the table the view does not show is
// truncated and loaded with COPY … FREEZE with its indexes dropped, the
// indexes are built again, the table is analysed, and the view is pointed at
// it; the job's state is saved in the same transaction, which commits the
// swap. When the source's columns changed (added, dropped, renamed or
// retyped), both tables and the view are rebuilt with the new columns, the
// destination's privileges are kept, the source's indexes are made again
// unless SkipIndexes, and the job's PostScripts run.
//
// A refresh that finds the lock taken returns a *replication.TableError
// wrapping ErrLocked and a Result with Skipped set (SkipReason replication.SkipLocked),
// and logs a WARNING job. A failed refresh changes nothing on the
// destination but the job's failure count.
func (s *Snapshot) Refresh(ctx context.Context) (replication.Result, error) {
	return s.refreshJob(ctx, &s.cfg.Options, "Refresh Snap", replication.KindSnapshot, s.refresh)
}

func (s *Snapshot) refresh(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, run *replication.JobRun) (res replication.Result, err error) {
	var opts jobOptions
	var state snapState
	if err := decodeJSON(job.Config, &opts, "config", s.dst); err != nil {
		return res, err
	}
	if err := decodeJSON(job.State, &state, "state", s.dst); err != nil {
		return res, err
	}

	run.Step(ctx, "Reading source "+s.src.String())
	srcConn, err := s.source.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("connect to source: %w", err)
	}
	defer srcConn.Release()
	src, err := describeSource(ctx, srcConn, s.src, opts.Columns, opts.Condition, false)
	if err != nil {
		return res, err
	}
	for _, m := range src.missing {
		w := fmt.Sprintf("filtered column %s is no longer on the source; it is dropped from the destination", replication.QuoteIdent(m))
		res.Warnings = append(res.Warnings, w)
		run.Warn(ctx, w)
	}
	cols := signature(src.cols)
	dst, err := inspectDest(ctx, conn, s.dst)
	if err != nil {
		return res, err
	}
	if dst.kind != "" && dst.kind != "v" {
		return res, &replication.TableError{Table: s.dst, Err: replication.ErrExists,
			Fix: "the destination is no longer the snapshot's view: drop or rename what took its name"}
	}
	changed := !sameColumns(cols, state.Columns) || !dst.intact(src.names())
	// The statistics are read before the pull's snapshot is taken.
	stats, why, err := sourceStats(ctx, srcConn, src, !opts.SkipUnchanged)
	if err != nil {
		return res, err
	}
	if !changed && stats.equal(state.Stats) {
		run.Done(ctx, "Source statistics show no inserts, updates, deletes or truncates since the last refresh: skipping the pull")
		if err := s.catalog.SaveState(ctx, conn, job.ID, state); err != nil {
			return res, err
		}
		// Statistics are published up to about a minute after a commit.
		return replication.Result{Skipped: true, SkipReason: SkipUnchanged, Warnings: res.Warnings, SyncLag: time.Minute}, nil
	}
	switch {
	case changed:
		run.Done(ctx, "Source columns changed: %s", describeChange(state.Columns, cols))
	case stats == nil:
		run.Done(ctx, "Pulling every time: %s", why)
	default:
		run.Done(ctx, "Source changed since the last refresh")
	}

	target := 1
	if dst.active == 1 {
		target = 2
	}
	tgt, oth := snapTable(s.dst, target), snapTable(s.dst, 3-target)
	tx, err := beginLoad(ctx, conn, s.cfg.LoadOptions)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var st copypipe.Stats
	if changed {
		var srcIdx []replication.Index
		if !opts.SkipIndexes {
			if srcIdx, err = src.info.Indexes(ctx, srcConn); err != nil {
				return res, err
			}
		}
		st, err = s.rebuild(ctx, tx, srcConn, src, cols, srcIdx, dst, tgt, oth, opts.PostScripts, run)
	} else {
		st, err = s.reload(ctx, tx, srcConn, src, tgt, oth, run)
	}
	if err != nil {
		return res, err
	}
	state = snapState{Active: snapName(target), Columns: cols, Stats: stats, Rows: st.Rows}
	if err := s.catalog.SaveState(ctx, tx, job.ID, state); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit refresh of %s: %w", s.dst, err)
	}
	res.Inserted, res.Bytes = st.Rows, st.Bytes
	return res, nil
}

// reload loads tgt bare (indexes dropped, truncated, COPY … FREEZE,
// indexes built again, analysed) and swaps the view to it.
func (s *Snapshot) reload(ctx context.Context, tx pgx.Tx, srcConn *pgxpool.Conn, src *source, tgt, oth replication.Table, run *replication.JobRun) (copypipe.Stats, error) {
	run.Step(ctx, "Loading "+tgt.String())
	if err := lockTables(ctx, tx, s.cfg.LoadOptions, tgt); err != nil {
		return copypipe.Stats{}, err
	}
	ixs, err := captureIndexes(ctx, tx, tgt)
	if err != nil {
		return copypipe.Stats{}, err
	}
	dropped, err := dropIndexes(ctx, tx, tgt, ixs)
	if err != nil {
		return copypipe.Stats{}, err
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+tgt.Sanitize()); err != nil {
		return copypipe.Stats{}, fmt.Errorf("truncate %s: %w", tgt, err)
	}
	st, err := load(ctx, tx, srcConn.Conn().PgConn(), src, tgt, true, s.cfg.LoadOptions)
	if err != nil {
		return st, err
	}
	run.Done(ctx, "Inserted %d rows (%d bytes)", st.Rows, st.Bytes)
	if len(dropped) > 0 {
		run.Step(ctx, "Building indexes of "+tgt.String())
		if err := rebuildIndexes(ctx, tx, tgt, dropped); err != nil {
			return st, err
		}
	}
	if err := analyze(ctx, tx, tgt); err != nil {
		return st, err
	}
	run.Step(ctx, "Swapping view to "+tgt.String())
	if err := lockTables(ctx, tx, s.cfg.LoadOptions, s.dst, oth); err != nil {
		return st, err
	}
	if err := swapView(ctx, tx, s.dst, tgt, src.names()); err != nil {
		return st, err
	}
	// The old copy is emptied at once to give its space back; readers that
	// waited for the view's lock see the new table.
	if _, err := tx.Exec(ctx, "TRUNCATE "+oth.Sanitize()); err != nil {
		return st, fmt.Errorf("truncate %s: %w", oth, err)
	}
	run.Done(ctx, "View swapped")
	return st, nil
}
