package incremental

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// startValue is the last value of a job that has pulled nothing: the upper
// bound of the (empty) pull for a Time job, so that only rows after the
// setup (less the boundary) come next, and no bound for a Serial job, so
// that the first refresh pulls every row.
func startValue(p *plan, upper string, ok bool) *string {
	if p.ctl.typ == Time && ok {
		return &upper
	}
	return nil
}

// repullAll empties the destination and pulls every source row up to the
// upper bound, in one destination transaction with the new state.
func (j *job) repullAll(ctx context.Context) (replication.Result, error) {
	return j.passRun(ctx, replication.OpRepull, "Refresh", j.repullAllBody)
}

func (j *job) repullAllBody(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass) (res replication.Result, err error) {
	p := ps.p

	run.Step(ctx, "Request to repull ALL data from source")
	up, ok, err := j.upper(ctx, ps.s, p)
	if err != nil {
		return res, err
	}
	tx, err := j.beginDest(ctx, conn)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	dinfo, destCols, err := j.destColumns(ctx, tx, p)
	if err != nil {
		return res, err
	}
	if err := j.lockedDDL(ctx, tx, "TRUNCATE "+j.dst.Sanitize()); err != nil {
		return res, fmt.Errorf("empty %s: %w", j.dst, err)
	}
	var maxv *string
	if ok {
		sp := span{upper: up}
		if maxv, err = j.maxIn(ctx, ps.s, p, sp.preds(p.ctl)...); err != nil {
			return res, err
		}
		if maxv != nil {
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(true, sp.preds(p.ctl)...), j.dst.Sanitize(), destCols,
				dinfo.Kind == replication.KindTable)
			if err != nil {
				return res, err
			}
			res.Inserted, res.Bytes = cs.Rows, cs.Bytes
		}
	}
	run.Done(ctx, "Pulled %d rows", res.Inserted)

	run.Step(ctx, "Setting next lower boundary")
	next := state{LastValue: maxv}
	if maxv == nil {
		next.LastValue = startValue(p, up, ok)
	}
	if j.cfg.LateCommit {
		next.Snapshot = ps.s.snapshot
	}
	if err := j.commitState(ctx, tx, ps.l.job.ID, next, "repull"); err != nil {
		return res, err
	}
	run.Done(ctx, "Lower boundary value is: %s", next.last())
	j.syncLag(p, &res)
	return res, nil
}

// repullRange replaces the destination rows whose control values lie in
// the exclusive range (start, end), and are not above the last value
// pulled, with the source's rows of that range. The state does not change:
// rows above the last value come with the next refresh.
func (j *job) repullRange(ctx context.Context, start, end Value) (replication.Result, error) {
	if !start.IsZero() && !end.IsZero() && start.typ != end.typ {
		return replication.Result{}, &replication.OptionError{Field: "end", Problem: "is of another type than start"}
	}
	return j.passRun(ctx, replication.OpRepull, "Refresh", func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass) (replication.Result, error) {
		return j.repullRangeBody(ctx, conn, run, ps, start, end)
	})
}

func (j *job) repullRangeBody(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, ps *pass, start, end Value) (res replication.Result, err error) {
	p, st := ps.p, ps.l.state
	res.Unsynced = true // a range says nothing of the rest

	var preds []string
	var from, to = "(start", "end)"
	if !start.IsZero() {
		v, err := start.text(p.ctl, "start")
		if err != nil {
			return res, err
		}
		preds, from = append(preds, p.ctl.ident()+" > "+p.ctl.lit(v)), "("+v
	}
	if !end.IsZero() {
		v, err := end.text(p.ctl, "end")
		if err != nil {
			return res, err
		}
		preds, to = append(preds, p.ctl.ident()+" < "+p.ctl.lit(v)), v+")"
	}
	run.Step(ctx, fmt.Sprintf("Request to repull data from %s to %s", from, to))

	tx, err := j.beginDest(ctx, conn)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, destCols, err := j.destColumns(ctx, tx, p)
	if err != nil {
		return res, err
	}
	if st.LastValue != nil {
		preds = append(preds, p.ctl.ident()+" <= "+p.ctl.lit(*st.LastValue))
		tag, err := tx.Exec(ctx, "DELETE FROM "+j.dst.Sanitize()+whereSQL(preds))
		if err != nil {
			return res, fmt.Errorf("delete range of %s: %w", j.dst, err)
		}
		res.Deleted = tag.RowsAffected()
		if j.updater {
			if err := j.createTemp(ctx, tx, p); err != nil {
				return res, err
			}
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(false, preds...), tempTable, destCols, false)
			if err != nil {
				return res, err
			}
			res.Bytes = cs.Bytes
			if cs.Rows > 0 {
				if res.Inserted, res.Updated, err = j.applyByKey(ctx, tx, p); err != nil {
					return res, err
				}
			}
		} else {
			cs, err := j.copyRows(ctx, ps.s, tx, p, p.selectSQL(true, preds...), j.dst.Sanitize(), destCols, false)
			if err != nil {
				return res, err
			}
			res.Inserted, res.Bytes = cs.Rows, cs.Bytes
		}
	}
	run.Done(ctx, "%d rows removed, %d inserted, %d replaced by key", res.Deleted, res.Inserted, res.Updated)
	if err := j.commitState(ctx, tx, ps.l.job.ID, st, "repull"); err != nil {
		return res, err
	}
	return res, nil
}
