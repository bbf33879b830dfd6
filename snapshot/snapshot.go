package snapshot

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Snapshot replicates a whole source table (or view) into a destination
// view over two tables, <dest>_snap1 and <dest>_snap2. A refresh loads the
// table the view does not show and then points the view at it, in one
// destination transaction that holds the view's lock only for the swap:
// readers of the view always see one complete copy.
type Snapshot struct {
	endpoints
	cfg Config
}

var _ replication.Replicator = (*Snapshot)(nil)

// New returns the snapshot job of source table src (read through pool
// source) into the destination database behind pool dest. A nil cfg is the
// zero Config. New does not touch either database.
func New(source, dest *pgxpool.Pool, src replication.Table, cfg *Config) (*Snapshot, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Snapshot{}
	if cfg != nil {
		s.cfg = *cfg
	}
	s.cfg.LoadOptions.bind(&s.cfg.Options)
	var err error
	if s.endpoints, err = newEndpoints(source, dest, src, &s.cfg.Options); err != nil {
		return nil, err
	}
	if len(s.dst.Name)+len("_snap1") > maxNameLen {
		return nil, &replication.TableError{Table: s.dst, Err: replication.ErrBadName,
			Fix: fmt.Sprintf("use a destination name of at most %d bytes: its tables are named <name>_snap1 and <name>_snap2", maxNameLen-len("_snap1"))}
	}
	return s, nil
}

// maxNameLen is PostgreSQL's limit on a name, in bytes.
const maxNameLen = 63

func (s *Snapshot) jobOptions() jobOptions {
	return jobOptions{
		Columns:       s.cfg.Columns,
		Condition:     s.cfg.Condition,
		SkipIndexes:   s.cfg.SkipIndexes,
		SkipUnchanged: s.cfg.SkipUnchanged,
		PostScripts:   s.cfg.PostScripts,
	}
}

// Setup checks the source, the options and the destination, then creates
// the two tables and the view, records the job in the catalog and (unless
// SkipPull) loads the first copy, all in one destination transaction. It
// fails with a *replication.TableError wrapping ErrExists when the
// destination name or one of its table names is taken, ErrTableNotFound
// when the source is missing, ErrBadCondition when the condition does not
// run on the source, and a *replication.ColumnError wrapping
// ErrColumnNotFound for a filter naming an unknown column; nothing is left
// behind on either side.
//
// Setup runs as one job run (replication.Run) under the destination's
// lock, waiting for it: of concurrent Setups of one destination one wins
// and the others find it taken (ErrExists).
func (s *Snapshot) Setup(ctx context.Context) error {
	_, err := s.run(ctx, replication.OpSetup, replication.KindSnapshot, replication.JobName("Snapshot Maker", s.src), &s.cfg.Options, s.setup)
	return err
}

func (s *Snapshot) setup(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (res replication.Result, err error) {
	run.Step(ctx, "Checking source "+s.src.String())
	srcConn, err := s.source.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("connect to source: %w", err)
	}
	defer srcConn.Release()
	src, err := describeSource(ctx, srcConn, s.src, s.cfg.Columns, s.cfg.Condition, true)
	if err != nil {
		return res, err
	}
	if err := preflight(ctx, srcConn, src, s.cfg.Columns, replication.KindSnapshot); err != nil {
		return res, err
	}
	if err := src.check(ctx, srcConn); err != nil {
		return res, err
	}
	var srcIdx []replication.Index
	if !s.cfg.SkipIndexes {
		if srcIdx, err = src.info.Indexes(ctx, srcConn); err != nil {
			return res, err
		}
	}

	run.Step(ctx, "Checking destination "+s.dst.String())
	snaps := []replication.Table{snapTable(s.dst, 1), snapTable(s.dst, 2)}
	if err := checkFree(ctx, conn, s.dst, append([]replication.Table{s.dst}, snaps...)...); err != nil {
		return res, err
	}
	if err := checkSettings(ctx, conn, s.cfg.LoadOptions); err != nil {
		return res, err
	}
	if err := s.catalog.Migrate(ctx, s.dest); err != nil {
		return res, err
	}

	var stats *statsSig
	if !s.cfg.SkipPull {
		if stats, _, err = sourceStats(ctx, srcConn, src, !s.cfg.SkipUnchanged); err != nil {
			return res, err
		}
	}
	cols := signature(src.cols)
	tx, err := beginLoad(ctx, conn, s.cfg.LoadOptions)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	for _, t := range snaps {
		if err := createTable(ctx, tx, t, cols); err != nil {
			return res, err
		}
	}
	config, err := json.Marshal(s.jobOptions())
	if err != nil {
		return res, err
	}
	job := s.cfg.NewJob(replication.KindSnapshot, s.src, s.dst, config, nil)
	if err := s.catalog.CreateJob(ctx, tx, job); err != nil {
		return res, err
	}
	if err := s.catalog.PutSource(ctx, tx, s.cfg.Source(), s.source.Config().ConnString()); err != nil {
		return res, err
	}
	state := snapState{Active: snapName(1), Columns: cols, Stats: stats}
	if !s.cfg.SkipPull {
		run.Step(ctx, "Loading "+snaps[0].String())
		st, err := load(ctx, tx, srcConn.Conn().PgConn(), src, snaps[0], true, s.cfg.LoadOptions)
		if err != nil {
			return res, err
		}
		state.Rows = st.Rows
		run.Done(ctx, "Inserted %d rows (%d bytes)", st.Rows, st.Bytes)
	}
	if len(srcIdx) > 0 {
		run.Step(ctx, "Creating indexes")
		for _, t := range snaps {
			if err := createSourceIndexes(ctx, tx, t, srcIdx); err != nil {
				return res, err
			}
		}
	}
	if !s.cfg.SkipPull {
		if err := analyze(ctx, tx, snaps[0]); err != nil {
			return res, err
		}
	}
	run.Step(ctx, "Creating view "+s.dst.String())
	if err := createView(ctx, tx, s.dst, snaps[0], src.names(), nil); err != nil {
		return res, err
	}
	if err := s.catalog.SaveState(ctx, tx, job.ID, state); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit setup of %s: %w", s.dst, err)
	}
	res.Inserted = state.Rows
	return res, nil
}

// sourceStats reads the source's change signature, or nil when the check is
// off or statistics cannot vouch for the source (the reason is returned).
func sourceStats(ctx context.Context, db *pgxpool.Conn, src *source, off bool) (*statsSig, string, error) {
	switch {
	case off:
		return nil, "Config.SkipUnchanged is off", nil
	case src.isView():
		return nil, "the source is a view", nil
	}
	return readStats(ctx, db, src.query())
}

// checkFree fails with ErrExists when one of names is taken in the
// destination database, and when dest's schema is missing.
func checkFree(ctx context.Context, db *pgxpool.Conn, dest replication.Table, names ...replication.Table) error {
	if err := replication.CheckDestSchema(ctx, db, dest); err != nil {
		return err
	}
	for _, t := range names {
		kind, err := relKind(ctx, db, t)
		if err != nil {
			return err
		}
		if kind != "" {
			return &replication.TableError{Table: t, Err: replication.ErrExists,
				Fix: "drop it, or choose another destination with Options.Dest"}
		}
	}
	return nil
}

// createTable creates t with cols; a name taken meanwhile is ErrExists.
func createTable(ctx context.Context, tx pgx.Tx, t replication.Table, cols []columnSig) error {
	_, err := tx.Exec(ctx, createTableSQL(t, cols))
	switch {
	case sqltext.SQLState(err) == pgerrcode.DuplicateTable:
		return &replication.TableError{Table: t, Err: fmt.Errorf("%w: %w", replication.ErrExists, err),
			Fix: "drop it, or choose another destination with Options.Dest"}
	case err != nil:
		return privilegeError(t, fmt.Errorf("create %s: %w", t, err), "grant the destination role CREATE on the schema")
	}
	return nil
}
