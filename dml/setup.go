package dml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Setup checks the source table and the options, creates the capture queue
// and its triggers on the source, then creates the destination table and
// (unless Options.SkipPull) copies every row into it, builds its indexes
// and records the job, in one destination transaction. The triggers are in
// place before the copy's snapshot is taken, so no change made during setup
// is lost. On failure nothing is left on either side.
//
// Setup runs as one job run (replication.Run) under the destination's
// lock, waiting for it: of concurrent Setups of one destination one wins
// and the others find it taken (ErrExists).
func (r *Replicator) Setup(ctx context.Context) error {
	_, err := r.locked(ctx, replication.OpSetup, replication.JobName(r.variant.Label()+" Maker", r.table),
		func(ctx context.Context, run *replication.JobRun, _ *replication.Result) error {
			return r.setup(ctx, run)
		})
	return err
}

func (r *Replicator) setup(ctx context.Context, run *replication.JobRun) (err error) {
	run.Step(ctx, "Checking source table and options")
	spec, key, err := r.checkSource(ctx)
	if err != nil {
		return err
	}
	adopt, err := r.checkDest(ctx)
	if err != nil {
		return err
	}
	if r.cfg.Capture == CaptureLogical {
		return r.setupLogical(ctx, run, spec, key, adopt)
	}
	run.Step(ctx, "Creating capture queue and triggers on source")
	if err := migrateQueueSchema(ctx, r.source, r.cfg.queueSchema()); err != nil {
		return queueError(r.table, r.cfg.queueSchema(), "prepare the queue schema", err)
	}
	var label string
	if err := r.dest.QueryRow(ctx, `SELECT current_database()`).Scan(&label); err != nil {
		return fmt.Errorf("setup %s: %w", r.Dest(), err)
	}
	q, err := installQueue(ctx, r.source, &r.cfg, spec, r.variant, label+"/"+r.Dest().Sanitize())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if derr := dropQueue(context.WithoutCancel(ctx), r.source, &r.cfg, q); derr != nil {
				err = fmt.Errorf("%w (and removing the queue again failed: %v)", err, derr)
			}
		}
	}()
	// The refresh reads the source through the queue, in both of its plans:
	// the condition must work in them too.
	for _, lookups := range []bool{true, false} {
		probe := *spec
		probe.Sizes = keyapply.TableSizes{KeyIndexed: lookups, SourceRows: -1}
		stmt := `SELECT * FROM (` + changesQuery(q, &probe, claim{}, r.variant.KeepsDeleted()) + `) mimeo_probe LIMIT 0`
		if err := sqltext.Probe(ctx, r.source, stmt); err != nil {
			return &replication.TableError{Table: r.table, Err: fmt.Errorf("%w: %w", replication.ErrBadCondition, err),
				Fix: "fix Options.Condition: refer to the source table by its name without schema"}
		}
	}
	run.Step(ctx, "Creating destination table")
	return durable.InTx(ctx, r.dest, func(tx pgx.Tx) error {
		jc := jobConfig{QueueSchema: q.Schema, QueueID: q.ID}
		if adopt {
			return r.adoptDest(ctx, run, tx, spec, jc)
		}
		return r.makeDest(ctx, run, tx, spec, jc, key, "")
	})
}

// keyOrigin says where the key came from.
type keyOrigin struct {
	// explicit: Config.Key named it.
	explicit bool
	// primary: it is the source's primary key.
	primary bool
	// index is the source index it came from, when not explicit.
	index string
}

// checkSource describes the source table and checks key, filter, condition
// and the job's prerequisite (privileges, server settings, replica
// identity; see Config.Prerequisite).
func (r *Replicator) checkSource(ctx context.Context) (spec *keyapply.TableSpec, ko keyOrigin, err error) {
	info, err := replication.Describe(ctx, r.source, r.table)
	if err != nil {
		return nil, ko, err
	}
	if info.Kind != replication.KindTable && info.Kind != replication.KindPartitioned {
		return nil, ko, &replication.TableError{Table: r.table, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("%s replication needs a table to put triggers on, and this is a %s", r.variant.Label(), info.Kind)}
	}
	var key []string
	if len(r.cfg.Key) > 0 {
		ko.explicit = true
		for _, k := range r.cfg.Key {
			c, ok := info.Column(k)
			if !ok {
				return nil, ko, &replication.ColumnError{Table: r.table, Column: k, Err: replication.ErrColumnNotFound,
					Fix: "Config.Key names a column the table does not have (names are case-sensitive)"}
			}
			if !c.NotNull {
				return nil, ko, &replication.ColumnError{Table: r.table, Column: k, Err: replication.ErrNoKey,
					Fix: "key columns must be NOT NULL"}
			}
		}
		key = r.cfg.Key
	} else {
		if key, err = info.KeyColumns(); err != nil {
			return nil, ko, err
		}
		ko.primary, ko.index = info.Key.Primary, info.Key.Index
	}
	cols, err := info.Select(r.cfg.Columns)
	if err != nil {
		return nil, ko, err
	}
	if err := replication.RequireColumns(r.table, cols, key, "key that identifies rows"); err != nil {
		return nil, ko, err
	}
	for _, x := range r.variant.ExtraColumns() {
		if _, clash := info.Column(x.Name); clash {
			return nil, ko, &replication.ColumnError{Table: r.table, Column: x.Name, Err: replication.ErrBadOption,
				Fix: fmt.Sprintf("%s replication adds a column of this name on the destination; rename the source column", r.variant.Label())}
		}
	}
	for _, name := range keyapply.ReservedColumns() {
		if _, clash := info.Column(name); clash {
			return nil, ko, &replication.ColumnError{Table: r.table, Column: name, Err: replication.ErrBadOption,
				Fix: "the name is reserved for pgmimeo's staging of changes; rename the source column"}
		}
	}
	spec = &keyapply.TableSpec{Source: r.table, Dest: r.Dest(), Columns: cols, Key: key, Condition: r.cfg.Condition}
	if err := spec.CheckCondition(); err != nil {
		return nil, ko, err
	}
	if err := sqltext.Probe(ctx, r.source, `SELECT 1 FROM `+spec.Source.Sanitize()+spec.ConditionSQL()+` LIMIT 0`); err != nil {
		return nil, ko, &replication.TableError{Table: r.table, Err: fmt.Errorf("%w: %w", replication.ErrBadCondition, err),
			Fix: "fix Options.Condition: it is appended to \"SELECT … FROM <source table>\""}
	}
	if err := r.requirePrerequisite(ctx, key); err != nil {
		return nil, ko, err
	}
	return spec, ko, nil
}

// checkDest refuses a job that already exists, and a destination table
// that exists unless Options.AdoptDest; it reports whether the table is to
// be adopted.
func (r *Replicator) checkDest(ctx context.Context) (adopt bool, err error) {
	dest := r.Dest()
	if err := replication.CheckDestSchema(ctx, r.dest, dest); err != nil {
		return false, err
	}
	var exists bool
	if err := r.dest.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, dest.Sanitize()).Scan(&exists); err != nil {
		return false, fmt.Errorf("check destination %s: %w", dest, err)
	}
	if exists && !r.cfg.AdoptDest {
		return false, &replication.TableError{Table: dest, Err: replication.ErrExists,
			Fix: "drop it, choose another destination with Options.Dest, or set Options.AdoptDest to replicate into it"}
	}
	if err := r.catalog.Migrate(ctx, r.dest); err != nil {
		return false, fmt.Errorf("prepare catalog: %w", err)
	}
	if _, err := r.catalog.Job(ctx, r.dest, dest); err == nil {
		return false, &replication.TableError{Table: dest, Err: replication.ErrExists,
			Fix: "a job already replicates into this table; destroy it first"}
	} else if !errors.Is(err, replication.ErrNotManaged) {
		return false, err
	}
	return exists, nil
}

// adoptDest takes an existing destination table for the job, in tx: it
// must have every replicated column (and the variant's extra ones); a
// unique index on the key is made when there is none. No row is copied:
// the first refresh pulls them all again (for logdel, keeping the rows
// marked deleted).
func (r *Replicator) adoptDest(ctx context.Context, run *replication.JobRun, tx pgx.Tx, spec *keyapply.TableSpec, jc jobConfig) error {
	run.Step(ctx, "Adopting existing destination table")
	info, err := replication.Describe(ctx, tx, spec.Dest)
	if err != nil {
		return err
	}
	var cols []replication.Column
	for _, name := range spec.ColumnNames() {
		c, ok := info.Column(name)
		if !ok {
			return &replication.ColumnError{Table: spec.Dest, Column: name, Err: replication.ErrColumnNotFound,
				Fix: "add the column to the destination table before adopting it"}
		}
		cols = append(cols, c)
	}
	spec.DestColumns = cols
	for _, x := range r.variant.ExtraColumns() {
		if _, ok := info.Column(x.Name); !ok {
			return &replication.ColumnError{Table: spec.Dest, Column: x.Name, Err: replication.ErrColumnNotFound,
				Fix: fmt.Sprintf("add it: ALTER TABLE %s ADD COLUMN %s %s", spec.Dest, replication.QuoteIdent(x.Name), x.Type)}
		}
	}
	key := append([]string(nil), spec.Key...)
	sort.Strings(key)
	var indexed bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
		WHERE i.indrelid = $1::pg_catalog.regclass AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
		  AND ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) AS k(n)
		            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY 1) = $2::text[])`,
		spec.Dest.Sanitize(), key).Scan(&indexed); err != nil {
		return fmt.Errorf("inspect indexes of %s: %w", spec.Dest, err)
	}
	if !indexed {
		if _, err := tx.Exec(ctx, `CREATE UNIQUE INDEX ON `+spec.Dest.Sanitize()+` (`+sqltext.IdentList("", spec.Key)+`)`); err != nil {
			return fmt.Errorf("index the key of %s: %w", spec.Dest, err)
		}
	}
	return r.recordJob(ctx, run, tx, spec, jc, jobState{NeedsPull: true})
}

// makeDest creates and fills the destination table and records the job,
// in tx. With snapshot (exported by a source session) the rows are read
// in that snapshot.
func (r *Replicator) makeDest(ctx context.Context, run *replication.JobRun, tx pgx.Tx, spec *keyapply.TableSpec, jc jobConfig, ko keyOrigin, snapshot string) error {
	dest := spec.Dest.Sanitize()
	var defs string
	for i, c := range spec.Columns {
		if i > 0 {
			defs += ", "
		}
		defs += replication.QuoteIdent(c.Name) + " " + c.Type
		if c.NotNull {
			defs += " NOT NULL"
		}
	}
	for _, x := range r.variant.ExtraColumns() {
		defs += ", " + replication.QuoteIdent(x.Name) + " " + x.Type
	}
	with := ""
	if ff := r.cfg.fillfactor(); ff < 100 {
		with = fmt.Sprintf(" WITH (fillfactor = %d)", ff)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE `+dest+` (`+defs+`)`+with); err != nil {
		return fmt.Errorf("create %s: %w", spec.Dest, err)
	}
	dinfo, err := replication.Describe(ctx, tx, spec.Dest)
	if err != nil {
		return err
	}
	if spec.DestColumns, err = dinfo.Select(spec.ColumnNames()); err != nil {
		return err
	}
	var rows int64
	if !r.cfg.SkipPull {
		run.Step(ctx, "Pulling data from source")
		conn, err := replication.AcquireLive(ctx, r.source)
		if err != nil {
			return fmt.Errorf("connect to source: %w", err)
		}
		st, err := pullInSnapshot(ctx, conn, snapshot, func() (copypipe.Stats, error) {
			return copypipe.Copy(ctx, conn.Conn().PgConn(), tx.Conn().PgConn(), copypipe.Spec{
				Query: fullQuery(spec), Dest: dest, Columns: spec.ColumnNames(), Binary: spec.BinaryRows(), Freeze: true,
			})
		})
		conn.Release()
		if err != nil {
			return fmt.Errorf("pull %s: %w", spec.Source, err)
		}
		rows = st.Rows
		run.Done(ctx, "Pulled %d rows", rows)
	}
	run.Step(ctx, "Creating indexes on destination table")
	if err := r.makeIndexes(ctx, run, tx, spec, ko); err != nil {
		return err
	}
	if err := r.variant.FinishDest(ctx, tx, spec); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `ANALYZE `+dest); err != nil {
		return fmt.Errorf("analyze %s: %w", spec.Dest, err)
	}
	st := jobState{NeedsPull: r.cfg.SkipPull}
	if jc.Capture == CaptureLogical {
		st.Stream = &streamState{LSN: jc.startLSN}
	}
	return r.recordJob(ctx, run, tx, spec, jc, st)
}

// recordJob records the job and its source in the catalog, in tx.
func (r *Replicator) recordJob(ctx context.Context, run *replication.JobRun, tx pgx.Tx, spec *keyapply.TableSpec, jc jobConfig, st jobState) error {
	run.Step(ctx, "Recording job in catalog")
	jc.Key, jc.Columns, jc.Condition = spec.Key, spec.ColumnNames(), spec.Condition
	jc.Filter = r.cfg.Columns
	jc.BatchLimit, jc.SkipIndexes, jc.FetchFirst = r.cfg.BatchLimit, r.cfg.SkipIndexes, r.cfg.FetchFirst
	jc.Spool = r.cfg.Logical.Spool
	if jc.Capture == CaptureLogical && st.Stream == nil {
		st.Stream = &streamState{LSN: jc.startLSN}
	}
	conf, err := json.Marshal(jc)
	if err != nil {
		return err
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := r.catalog.PutSource(ctx, tx, r.cfg.Source(), r.source.Config().ConnString()); err != nil {
		return err
	}
	row := r.cfg.NewJob(r.variant.Kind(), spec.Source, spec.Dest, conf, state)
	if err := r.catalog.CreateJob(ctx, tx, row); err != nil {
		return err
	}
	if st.NeedsPull {
		return nil
	}
	// The initial copy counts as the job's first run, as it does for the
	// other kinds: a scheduled worker next runs it a period from now.
	return r.catalog.SaveState(ctx, tx, row.ID, st)
}

// makeIndexes builds the destination's indexes after its rows are loaded:
// the source's indexes (unless SkipIndexes), and in any case a primary key
// or unique index on the key, which every apply looks rows up by.
func (r *Replicator) makeIndexes(ctx context.Context, run *replication.JobRun, tx pgx.Tx, spec *keyapply.TableSpec, ko keyOrigin) error {
	dest := spec.Dest.Sanitize()
	keyIndex := `CREATE UNIQUE INDEX ON ` + dest + ` (` + sqltext.IdentList("", spec.Key) + `)`
	if ko.primary {
		keyIndex = `ALTER TABLE ` + dest + ` ADD PRIMARY KEY (` + sqltext.IdentList("", spec.Key) + `)`
	}
	if _, err := tx.Exec(ctx, keyIndex); err != nil {
		return fmt.Errorf("index the key of %s: %w", spec.Dest, err)
	}
	if r.cfg.SkipIndexes {
		return nil
	}
	info, err := replication.Describe(ctx, r.source, spec.Source)
	if err != nil {
		return err
	}
	ixs, err := info.Indexes(ctx, r.source)
	if err != nil {
		return err
	}
	for _, ix := range ixs {
		if !ko.explicit && ix.Name == ko.index {
			continue // made above
		}
		stmt := r.variant.AdaptIndex(ix, dest)
		if stmt == "" {
			continue
		}
		// An index on a column the filter leaves out cannot be made: it is
		// skipped with a warning, in a savepoint so the rest goes on.
		if _, err := tx.Exec(ctx, `SAVEPOINT mimeo_index`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT mimeo_index`); rerr != nil {
				return rerr
			}
			if sqltext.SQLState(err) == pgerrcode.UndefinedColumn {
				run.Warn(ctx, fmt.Sprintf("index %s of %s not replicated: %v", replication.QuoteIdent(ix.Name), spec.Source, err))
				continue
			}
			return fmt.Errorf("replicate index %s of %s: %w", replication.QuoteIdent(ix.Name), spec.Source, err)
		}
		if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT mimeo_index`); err != nil {
			return err
		}
	}
	return nil
}
