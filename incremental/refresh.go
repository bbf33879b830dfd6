package incremental

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// pass is one run against the source: the job as stored, resolved against
// the source, and the source read it runs in.
type pass struct {
	l *loaded
	p *plan
	s *sourceRead
}

// begin loads the job, resolves it against the source, opens the source
// read, and checks what may stop or trouble the run: for a Time job a
// daylight-saving change (skip is the reason, and the run is logged as
// cancelled), and source transactions open longer than the boundary (a
// warning in res). The caller closes ps.s.
func (j *job) begin(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, res *replication.Result) (ps *pass, skip bool, err error) {
	ps = &pass{}
	if ps.l, err = j.load(ctx, conn); err != nil {
		return nil, false, err
	}
	d := &ps.l.def
	if ps.p, err = j.resolve(ctx, d.Control, d.Type, d.Columns, d.Key); err != nil {
		return nil, false, err
	}
	if ps.s, err = j.openSource(ctx); err != nil {
		return nil, false, err
	}
	if ps.p.ctl.typ == Time {
		reason, err := j.dstPause(ctx, ps.s)
		if err != nil {
			ps.s.close(ctx)
			return nil, false, err
		}
		if reason != "" {
			ps.s.close(ctx)
			run.Step(ctx, "DST Check")
			run.Done(ctx, "Job CANCELLED - %s", reason)
			// The run's event says it was skipped, and why.
			res.Skipped, res.SkipReason, res.Unsynced = true, reason, true
			return nil, true, nil
		}
	}
	w, err := j.longTxnWarning(ctx, ps.s, ps.p.ctl.typ)
	if err != nil {
		ps.s.close(ctx)
		return nil, false, err
	}
	if w != "" {
		res.Warnings = append(res.Warnings, w)
		run.Warn(ctx, w)
	}
	return ps, false, nil
}

// passRun runs body under the destination's lock (see lockedRun), logged
// as the job "<action> Inserter|Updater: schema.table", in a pass begun on
// the locked connection; a pass that begin skips ends there. Warnings from
// begin come first in the result.
func (j *job) passRun(ctx context.Context, op replication.Op, action string,
	body func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass) (replication.Result, error)) (replication.Result, error) {
	return j.lockedRun(ctx, op, replication.JobName(action+" "+j.noun(), j.dst),
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (res replication.Result, err error) {
			ps, skip, err := j.begin(ctx, conn, run, &res)
			if err != nil || skip {
				return res, err
			}
			defer ps.s.close(ctx)
			out, err := body(ctx, conn, run, ps)
			out.Warnings = append(res.Warnings, out.Warnings...)
			return out, err
		})
}

// refresh pulls the rows above the last value up to the upper bound (cut by
// the batch limit), and in late-commit mode the late rows of the look-back
// window, and commits them with the new state in one destination
// transaction.
func (j *job) refresh(ctx context.Context) (replication.Result, error) {
	return j.passRun(ctx, replication.OpRefresh, "Refresh", j.refreshBody)
}

func (j *job) refreshBody(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass) (res replication.Result, err error) {
	p, st := ps.p, ps.l.state

	run.Step(ctx, "Pulling new rows")
	up, ok, err := j.upper(ctx, ps.s, p)
	if err != nil {
		return res, err
	}
	var sp span
	var maxv *string
	if ok {
		sp = span{lower: st.LastValue, upper: up}
		if sp, res.More, err = j.limit(ctx, ps.s, p, sp, j.cfg.BatchLimit); err != nil {
			return res, err
		}
		if maxv, err = j.maxIn(ctx, ps.s, p, sp.preds(p.ctl)...); err != nil {
			return res, err
		}
	}
	late := j.cfg.LateCommit && st.Snapshot != "" && st.LastValue != nil

	tx, err := j.beginDest(ctx, conn)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, destCols, err := j.destColumns(ctx, tx, p)
	if err != nil {
		return res, err
	}
	var pulled, lateRows int64
	if j.updater {
		if maxv != nil || late {
			if err := j.createTemp(ctx, tx, p); err != nil {
				return res, err
			}
		}
		if maxv != nil {
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(false, sp.preds(p.ctl)...), tempTable, destCols, false)
			if err != nil {
				return res, err
			}
			pulled, res.Bytes = cs.Rows, res.Bytes+cs.Bytes
		}
		if late {
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(false, j.window(p, *st.LastValue, st.Snapshot, ps.s.xmax)...), tempTable, destCols, false)
			if err != nil {
				return res, err
			}
			lateRows, res.Bytes = cs.Rows, res.Bytes+cs.Bytes
		}
		if pulled+lateRows > 0 {
			if res.Inserted, res.Updated, err = j.applyByKey(ctx, tx, p); err != nil {
				return res, err
			}
		}
	} else {
		if maxv != nil {
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(true, sp.preds(p.ctl)...), j.dst.Sanitize(), destCols, false)
			if err != nil {
				return res, err
			}
			pulled, res.Inserted, res.Bytes = cs.Rows, cs.Rows, cs.Bytes
		}
		if late {
			if err := j.createTemp(ctx, tx, p); err != nil {
				return res, err
			}
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(false, j.window(p, *st.LastValue, st.Snapshot, ps.s.xmax)...), tempTable, destCols, false)
			if err != nil {
				return res, err
			}
			lateRows, res.Bytes = cs.Rows, res.Bytes+cs.Bytes
			if lateRows > 0 {
				n, err := j.insertMissing(ctx, tx, p)
				if err != nil {
					return res, err
				}
				res.Inserted += n
			}
		}
	}
	if ok {
		run.Done(ctx, "Pulled %d rows with control values in %s", pulled, sp)
	} else {
		run.Done(ctx, "Source is empty")
	}
	if late {
		run.Step(ctx, "Re-reading late-committed rows")
		run.Done(ctx, "%d rows committed late below %s", lateRows, *st.LastValue)
	}

	run.Step(ctx, "Setting next lower boundary")
	next := st
	if maxv != nil {
		next.LastValue = maxv
	}
	next.Snapshot = ""
	if j.cfg.LateCommit {
		next.Snapshot = ps.s.snapshot
	}
	if err := j.commitState(ctx, tx, ps.l.job.ID, next, "refresh"); err != nil {
		return res, err
	}
	run.Done(ctx, "Lower boundary value is: %s", next.last())
	if res.More {
		w := fmt.Sprintf("batch limit of %d rows reached: this refresh stopped below control value %s; refresh again to move more, and raise Options.BatchLimit if this persists",
			j.cfg.BatchLimit, sp.upper)
		res.Warnings = append(res.Warnings, w)
		run.Warn(ctx, w)
	}
	j.syncLag(p, &res)
	return res, nil
}

// syncLag says in res up to when the destination holds every source row:
// a time job as of its boundary before the run's start; a serial job
// with a serial boundary cannot say.
func (j *job) syncLag(p *plan, res *replication.Result) {
	switch {
	case p.ctl.typ == Time:
		res.SyncLag = *j.cfg.Boundary
	case *j.cfg.SerialBoundary > 0:
		res.Unsynced = true
	}
}
