package snapshot

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Table replicates a whole source table (or view) into a plain destination
// table, truncated and reloaded by every refresh in one destination
// transaction (readers wait for the refresh rather than see it half done).
// It is meant for pulling production data into a development database: the
// source role needs only SELECT, and the destination stays an ordinary table
// that may be referenced by foreign keys (see TableConfig.TruncateCascade)
// and fed by sequences (see TableConfig.Sequences).
type Table struct {
	endpoints
	cfg TableConfig
}

var _ replication.Replicator = (*Table)(nil)

// NewTable returns the table job of source table src (read through pool
// source) into the destination database behind pool dest. A nil cfg is the
// zero TableConfig. NewTable does not touch either database.
func NewTable(source, dest *pgxpool.Pool, src replication.Table, cfg *TableConfig) (*Table, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Table{}
	if cfg != nil {
		t.cfg = *cfg
	}
	t.cfg.LoadOptions.bind(&t.cfg.Options)
	var err error
	if t.endpoints, err = newEndpoints(source, dest, src, &t.cfg.Options); err != nil {
		return nil, err
	}
	return t, nil
}

// Setup checks the source, the options and the destination, creates the
// destination table (or adopts it, with Options.AdoptDest: it must have the replicated columns; setup then makes no indexes and, unless SkipPull, truncates and loads it), records the job and
// (unless SkipPull) loads the rows, in one destination transaction. Bad
// input fails with the same typed errors as Snapshot.Setup, and a sequence
// in TableConfig.Sequences that the destination lacks with ErrTableNotFound;
// nothing is left behind on either side.
//
// Setup runs as one job run (replication.Run) under the destination's
// lock, waiting for it: of concurrent Setups of one destination one wins
// and the others find it taken (ErrExists).
func (t *Table) Setup(ctx context.Context) error {
	_, err := t.run(ctx, replication.OpSetup, replication.KindTableReload, replication.JobName("Table Maker", t.src), &t.cfg.Options, t.setup)
	return err
}

func (t *Table) setup(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (res replication.Result, err error) {
	run.Step(ctx, "Checking source "+t.src.String())
	srcConn, err := t.source.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("connect to source: %w", err)
	}
	defer srcConn.Release()
	src, err := describeSource(ctx, srcConn, t.src, t.cfg.Columns, t.cfg.Condition, true)
	if err != nil {
		return res, err
	}
	if err := preflight(ctx, srcConn, src, t.cfg.Columns, replication.KindTableReload); err != nil {
		return res, err
	}
	if err := src.check(ctx, srcConn); err != nil {
		return res, err
	}

	run.Step(ctx, "Checking destination "+t.dst.String())
	kind, err := relKind(ctx, conn, t.dst)
	if err != nil {
		return res, err
	}
	exists := kind != ""
	switch {
	case !exists:
		if err := checkFree(ctx, conn, t.dst); err != nil {
			return res, err
		}
	case !t.cfg.AdoptDest:
		return res, &replication.TableError{Table: t.dst, Err: replication.ErrExists,
			Fix: "drop it, choose another destination with Options.Dest, or set Options.AdoptDest to adopt it"}
	case kind != "r" && kind != "p":
		return res, &replication.TableError{Table: t.dst, Err: replication.ErrExists,
			Fix: "it is not a table, so it cannot be adopted; drop it or choose another destination"}
	}
	if exists {
		if err := hasColumns(ctx, conn, t.dst, src.cols); err != nil {
			return res, err
		}
	}
	if err := checkSequences(ctx, conn, t.cfg.Sequences); err != nil {
		return res, err
	}
	var srcIdx []replication.Index
	if !t.cfg.SkipIndexes && !exists {
		if srcIdx, err = src.info.Indexes(ctx, srcConn); err != nil {
			return res, err
		}
	}
	if err := checkSettings(ctx, conn, t.cfg.LoadOptions); err != nil {
		return res, err
	}
	if err := t.catalog.Migrate(ctx, t.dest); err != nil {
		return res, err
	}

	tx, err := beginLoad(ctx, conn, t.cfg.LoadOptions)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	cols := signature(src.cols)
	if !exists {
		if err := createTable(ctx, tx, t.dst, cols); err != nil {
			return res, err
		}
	}
	config, err := json.Marshal(t.jobOptions())
	if err != nil {
		return res, err
	}
	job := t.cfg.NewJob(replication.KindTableReload, t.src, t.dst, config, nil)
	if err := t.catalog.CreateJob(ctx, tx, job); err != nil {
		return res, err
	}
	if err := t.catalog.PutSource(ctx, tx, t.cfg.Source(), t.source.Config().ConnString()); err != nil {
		return res, err
	}
	state := tableState{Columns: cols}
	switch {
	case t.cfg.SkipPull:
	case exists:
		st, err := t.reload(ctx, tx, srcConn, src, t.jobOptions(), run)
		if err != nil {
			return res, err
		}
		state.Rows, state.Loaded = st.Rows, true
	default:
		run.Step(ctx, "Loading "+t.dst.String())
		st, err := load(ctx, tx, srcConn.Conn().PgConn(), src, t.dst, true, t.cfg.LoadOptions)
		if err != nil {
			return res, err
		}
		run.Done(ctx, "Inserted %d rows (%d bytes)", st.Rows, st.Bytes)
		state.Rows, state.Loaded = st.Rows, true
		if err := t.resetSequences(ctx, tx, t.cfg.Sequences, run); err != nil {
			return res, err
		}
	}
	if len(srcIdx) > 0 {
		run.Step(ctx, "Creating indexes on "+t.dst.String())
		if err := createSourceIndexes(ctx, tx, t.dst, srcIdx); err != nil {
			return res, err
		}
	}
	if state.Loaded && !exists {
		if err := analyze(ctx, tx, t.dst); err != nil {
			return res, err
		}
	}
	if err := t.catalog.SaveState(ctx, tx, job.ID, state); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit setup of %s: %w", t.dst, err)
	}
	res.Inserted = state.Rows
	return res, nil
}

func (t *Table) jobOptions() jobOptions {
	return jobOptions{
		Columns:         t.cfg.Columns,
		Condition:       t.cfg.Condition,
		SkipIndexes:     t.cfg.SkipIndexes,
		TruncateCascade: t.cfg.TruncateCascade,
		Sequences:       t.cfg.Sequences,
	}
}

// hasColumns fails with a *replication.ColumnError when table t lacks one
// of cols.
func hasColumns(ctx context.Context, db catalog.Querier, t replication.Table, cols []replication.Column) error {
	info, err := replication.Describe(ctx, db, t)
	if err != nil {
		return err
	}
	for _, c := range cols {
		if _, ok := info.Column(c.Name); !ok {
			return &replication.ColumnError{Table: t, Column: c.Name, Err: replication.ErrColumnNotFound,
				Fix: "add the column to the destination table (type " + c.Type + ") or leave it out with a column filter"}
		}
	}
	return nil
}
