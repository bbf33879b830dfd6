package incremental

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// setup checks the source, records the job, creates the destination table
// (or adopts an existing one), pulls the rows unless told not to, makes the
// indexes, and stores the initial state, all in one destination
// transaction: a failure leaves nothing behind but the catalog schema.
//
// It runs as one job run (replication.Run) under the destination's lock,
// waiting for it: of concurrent Setups of one destination one wins and the
// others find it taken (ErrExists).
func (j *job) setup(ctx context.Context) error {
	_, err := j.lockedRun(ctx, replication.OpSetup, replication.JobName(j.noun()+" Maker", j.src),
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error) {
			var res replication.Result
			err := j.setupLocked(ctx, conn, run, &res)
			return res, err
		})
	return err
}

// setupLocked sets the job up; res says up to when the destination then
// holds the source's rows, as a refresh's does: a pull stops at the
// boundary, and an adopted table's rows are the caller's.
func (j *job) setupLocked(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, res *replication.Result) (err error) {
	run.Step(ctx, "Checking source table")
	p, err := j.resolve(ctx, j.cfg.Control, j.cfg.Type, j.cfg.Columns, j.cfg.Key)
	if err != nil {
		return err
	}
	if err := j.preflight(ctx, p); err != nil {
		return err
	}
	if err := j.checkCondition(ctx, p); err != nil {
		return err
	}

	run.Step(ctx, "Adding configuration data")
	if err := j.catalog.Migrate(ctx, j.dest); err != nil {
		return err
	}
	if err := replication.CheckDestSchema(ctx, conn, j.dst); err != nil {
		return err
	}
	s, err := j.openSource(ctx)
	if err != nil {
		return err
	}
	defer s.close(ctx)
	up, ok, err := j.upper(ctx, s, p)
	if err != nil {
		return err
	}

	tx, err := j.beginDest(ctx, conn)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	def, err := json.Marshal(j.definition(p))
	if err != nil {
		return fmt.Errorf("encode job config: %w", err)
	}
	jb := j.cfg.NewJob(j.kind(p.ctl.typ), j.src, j.dst, def, nil)
	if err := j.catalog.CreateJob(ctx, tx, jb); err != nil {
		return err
	}
	if err := j.catalog.PutSource(ctx, tx, j.cfg.Source(), j.source.Config().ConnString()); err != nil {
		return err
	}

	var st state
	rel, err := catalog.LookupRelation(ctx, tx, j.dst.Schema, j.dst.Name)
	switch {
	case err == nil && !j.cfg.AdoptDest:
		return &replication.TableError{Table: j.dst, Err: replication.ErrExists,
			Fix: "drop it, choose another Options.Dest, or set Options.AdoptDest to adopt it (no rows are pulled then: the job goes on from its highest control value)"}
	case err == nil:
		run.Step(ctx, fmt.Sprintf("Destination table %s already exists: no data or indexes were pulled from source", j.dst))
		if st.LastValue, err = j.adopt(ctx, tx, p, rel); err != nil {
			return err
		}
		res.Unsynced = true
	case errors.Is(err, catalog.ErrNotFound):
		if st.LastValue, err = j.create(ctx, run, tx, s, p, up, ok); err != nil {
			return err
		}
		j.syncLag(p, res)
	default:
		return fmt.Errorf("look up %s: %w", j.dst, err)
	}
	if st.LastValue == nil {
		st.LastValue = startValue(p, up, ok)
	}
	if j.cfg.LateCommit {
		st.Snapshot = s.snapshot
	}
	run.Step(ctx, "Setting lower boundary")
	if err := j.catalog.SaveState(ctx, tx, jb.ID, st); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit setup of %s: %w", j.dst, err)
	}
	run.Done(ctx, "Lower boundary value is: %s", st.last())
	if _, err := conn.Exec(ctx, "ANALYZE "+j.dst.Sanitize()); err != nil && j.cfg.Logger != nil {
		j.cfg.Logger.Warn("analyze destination", append(replication.EventAttrs(j.kind(j.cfg.Type), j.dst), "error", err)...)
	}
	return nil
}

// definition returns what the catalog stores of the job.
func (j *job) definition(p *plan) definition {
	d := definition{
		Updater: j.updater, Type: p.ctl.typ, Control: p.ctl.col.Name, Filter: j.cfg.Columns, Columns: p.colNames(),
		Condition: strings.TrimSpace(j.cfg.Condition), Key: p.key, LateCommit: j.cfg.LateCommit,
		BatchLimit: j.cfg.BatchLimit, DSTStartMin: int(j.cfg.DSTStart.Minutes()), DSTEndMin: int(j.cfg.DSTEnd.Minutes()),
		IgnoreDST: j.cfg.IgnoreDST, LongTxnMicros: j.cfg.LongTransaction.Microseconds(), DurableCommit: j.cfg.DurableCommit,
	}
	if p.ctl.typ == Time {
		d.Boundary, d.LookBack = j.cfg.Boundary.Microseconds(), j.cfg.LookBack.Microseconds()
	} else {
		d.Boundary, d.LookBack = *j.cfg.SerialBoundary, j.cfg.SerialLookBack
	}
	return d
}

// checkCondition runs the row condition on the source, so that a condition
// that does not parse or names unknown columns fails setup.
func (j *job) checkCondition(ctx context.Context, p *plan) error {
	if p.cond == "" {
		return nil
	}
	if err := sqltext.Probe(ctx, j.source, "SELECT 1 FROM "+p.info.Table.Sanitize()+p.where()+" LIMIT 0"); err != nil {
		return &replication.TableError{Table: j.src, Err: fmt.Errorf("%w: %w", replication.ErrBadCondition, err),
			Fix: "Options.Condition must be a boolean expression on the source table's columns"}
	}
	return nil
}

// adopt takes an existing destination table as it is: it must be a table
// with every replicated column. The last value is its highest control value.
func (j *job) adopt(ctx context.Context, tx pgx.Tx, p *plan, rel catalog.Relation) (*string, error) {
	if rel.Kind != 'r' && rel.Kind != 'p' {
		return nil, &replication.TableError{Table: j.dst, Err: replication.ErrExists,
			Fix: "the destination exists and is not a table: choose another Options.Dest or drop it"}
	}
	info, err := replication.Describe(ctx, tx, j.dst)
	if err != nil {
		return nil, err
	}
	for _, c := range p.cols {
		if _, ok := info.Column(c.Name); !ok {
			return nil, &replication.ColumnError{Table: j.dst, Column: c.Name,
				Err: fmt.Errorf("%w: %w", replication.ErrExists, replication.ErrColumnNotFound),
				Fix: "the destination table exists and lacks this replicated column: add it to adopt the table, filter it out, or choose another Options.Dest"}
		}
	}
	var last *string
	q := "SELECT " + p.ctl.render("max("+p.ctl.ident()+")") + " FROM " + j.dst.Sanitize()
	if err := tx.QueryRow(ctx, q).Scan(&last); err != nil {
		return nil, fmt.Errorf("read highest control value of %s: %w", j.dst, err)
	}
	if last != nil {
		if err := p.ctl.checkValue(j.dst, *last); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// create makes the destination table, pulls the rows up to the upper bound
// (unless SkipPull) into the bare table, then builds the indexes. It returns
// the initial last value.
func (j *job) create(ctx context.Context, run *replication.JobRun, tx pgx.Tx, s *sourceRead, p *plan, up string, ok bool) (*string, error) {
	run.Step(ctx, "Creating destination table")
	if _, err := tx.Exec(ctx, createTableSQL(j.dst, p.cols)); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.InvalidSchemaName {
			return nil, &replication.TableError{Table: j.dst, Err: fmt.Errorf("%w: %w", replication.ErrBadOption, err),
				Fix: "create the destination schema first, or choose another Options.Dest"}
		}
		return nil, fmt.Errorf("create %s: %w", j.dst, err)
	}
	var last *string
	if !j.cfg.SkipPull && ok {
		run.Step(ctx, "Pulling data from source")
		sp := span{upper: up}
		var err error
		if last, err = j.maxIn(ctx, s, p, sp.preds(p.ctl)...); err != nil {
			return nil, err
		}
		if last != nil {
			cs, err := j.copyRows(ctx, s, tx, p, p.selectSQL(false, sp.preds(p.ctl)...), j.dst.Sanitize(), p.cols, true)
			if err != nil {
				return nil, err
			}
			run.Done(ctx, "Pulled %d rows", cs.Rows)
		}
	}
	if !j.cfg.SkipIndexes {
		run.Step(ctx, "Creating indexes on destination table")
		keyDone, skipped, err := j.createIndexes(ctx, tx, p)
		if err != nil {
			return nil, err
		}
		if len(skipped) > 0 {
			run.Done(ctx, "Skipped indexes on filtered-out columns: %s", strings.Join(skipped, ", "))
		}
		if j.updater && !keyDone {
			if err := j.createKeyIndex(ctx, tx, p); err != nil {
				return nil, err
			}
		}
	} else if j.updater {
		run.Step(ctx, "Creating the key index needed for replication")
		if err := j.createKeyIndex(ctx, tx, p); err != nil {
			return nil, err
		}
	}
	return last, nil
}
