package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Importer applies batches of files to destination tables.
type Importer struct {
	db  replication.DB
	cfg ImporterConfig
}

// NewImporter returns an importer into the destination behind db (a pool,
// a connection). It does not touch the database; Install makes the record
// of applied batches.
func NewImporter(db replication.DB, cfg *ImporterConfig) (*Importer, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &Importer{db: db, cfg: c}, nil
}

// Install makes the record of applied batches (ImporterSQL). The role
// must own the schema or be allowed to create it.
func (i *Importer) Install(ctx context.Context) error {
	return InstallImporter(ctx, i.db, i.cfg.Schema)
}

// ImportResult is what one import did.
type ImportResult struct {
	// Manifest is the batch's manifest.
	Manifest *Manifest
	// Dest is the destination table.
	Dest replication.Table
	// AlreadyApplied is true when the destination had applied this batch
	// before: nothing was changed (the acknowledgement is written again).
	AlreadyApplied bool
	// Counts are the destination rows deleted, updated and inserted. A full
	// batch counts every old row as deleted and every row as inserted.
	Counts Counts
	// Bytes is the size of the data files loaded.
	Bytes int64
	// AckPath is the acknowledgement file written.
	AckPath string
}

// appliedState is the destination's record of a table's stream.
type appliedState struct {
	source, sourceSchema, sourceTable, host, database string
	batch                                             int64
	sum                                               string
}

// Import applies the batch in dir in one destination transaction, then
// writes its acknowledgement. Every file is checked against the manifest
// before anything is applied (and again while it is loaded); a batch that
// is corrupt, out of order, or for another stream is refused with a
// *BatchError and changes nothing. A batch applied before changes nothing
// either (AlreadyApplied). An incremental batch deletes the keys of its
// ids file that have no row and merges the rows of its rows file; a full
// batch replaces every row of the destination. The destination may have
// columns the batch lacks: they keep their values (or defaults, for new
// rows).
func (i *Importer) Import(ctx context.Context, dir string) (*ImportResult, error) {
	m, sum, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if i.cfg.Target != (Target{}) && m.Target != i.cfg.Target {
		return nil, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrWrongStream,
			Detail: fmt.Sprintf("batch is for target %s, this importer takes %s", m.Target, i.cfg.Target)}
	}
	if err := verifyFiles(dir, m); err != nil {
		return nil, err
	}
	cols, err := readColumns(dir, m)
	if err != nil {
		return nil, err
	}
	dest := i.cfg.Dest
	if dest.IsZero() {
		dest = m.Table
	}
	res := &ImportResult{Manifest: m, Dest: dest}
	err = durable.InTx(ctx, i.db, func(tx pgx.Tx) error {
		st, err := i.state(ctx, tx, dest)
		if err != nil {
			return err
		}
		if err := checkOrder(dir, m, sum, st); err != nil {
			if errors.Is(err, errApplied) {
				res.AlreadyApplied = true
				return nil
			}
			return err
		}
		if err := i.apply(ctx, tx, dir, m, cols, dest, res); err != nil {
			return err
		}
		return i.record(ctx, tx, m, sum, dest)
	})
	if err != nil {
		return nil, err
	}
	i.cfg.Logger.InfoContext(ctx, "imported batch", "table", dest.String(), "batch", m.Batch, "full", m.Full,
		"already_applied", res.AlreadyApplied, "inserted", res.Counts.Inserted, "updated", res.Counts.Updated, "deleted", res.Counts.Deleted)
	if res.AckPath, err = i.writeAck(dir, m, sum, dest); err != nil {
		return res, fmt.Errorf("batch %d is applied but its acknowledgement was not written (import it again to write it): %w", m.Batch, err)
	}
	return res, nil
}

// errApplied: the batch was applied before.
var errApplied = errors.New("batch already applied")

// checkOrder decides whether batch m may be applied after the destination's
// state st (nil: no batch of this table applied yet).
func checkOrder(dir string, m *Manifest, sum string, st *appliedState) error {
	reset := "reset the target on the source (Exporter.Reset) for a full export"
	same := st != nil && st.source == m.Source && st.sourceSchema == m.Table.Schema && st.sourceTable == m.Table.Name &&
		st.host == m.Target.Host && st.database == m.Target.Database
	switch {
	case same && m.Batch == st.batch && sum == st.sum:
		return errApplied
	case same && m.Batch == st.batch:
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrOutOfOrder,
			Detail: "a batch with this number but another manifest was applied", Fix: reset}
	case same && m.Batch < st.batch:
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrOutOfOrder,
			Detail: fmt.Sprintf("batch %d was applied already, this one is older", st.batch), Fix: "discard this batch"}
	case m.Full:
		return nil
	case st == nil:
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrOutOfOrder,
			Detail: fmt.Sprintf("the destination has applied no batch, this one builds on batch %d", m.Since), Fix: reset}
	case !same:
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrWrongStream,
			Detail: fmt.Sprintf("the destination is fed by %s %s for %s@%s", st.source, replication.T(st.sourceSchema, st.sourceTable), st.database, st.host),
			Fix:    reset}
	case m.Since > st.batch:
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrOutOfOrder,
			Detail: fmt.Sprintf("this batch builds on batch %d, the destination has applied batch %d", m.Since, st.batch),
			Fix:    "import the batches in between first, or " + reset}
	}
	return nil
}

// state locks the destination table's record and reads it.
func (i *Importer) state(ctx context.Context, tx pgx.Tx, dest replication.Table) (*appliedState, error) {
	name := "pgmimeo import " + lockName(dest)
	if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(`+lockSQL+`)`, name); err != nil {
		return nil, fmt.Errorf("lock imports into %s: %w", dest, err)
	}
	var st appliedState
	err := tx.QueryRow(ctx, `SELECT source, source_schema, source_table, target_host, target_database, batch, manifest_sha256
		FROM `+replication.QuoteIdent(i.cfg.Schema)+`.applied_batch WHERE dest_schema = $1 AND dest_table = $2`,
		dest.Schema, dest.Name).Scan(&st.source, &st.sourceSchema, &st.sourceTable, &st.host, &st.database, &st.batch, &st.sum)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case isCode(err, pgerrcode.UndefinedTable):
		return nil, &replication.TableError{Table: dest, Err: replication.ErrNotManaged, Fix: "Install the importer first"}
	case err != nil:
		return nil, fmt.Errorf("read import record of %s: %w", dest, err)
	}
	return &st, nil
}

// apply loads the batch's files into dest.
func (i *Importer) apply(ctx context.Context, tx pgx.Tx, dir string, m *Manifest, cols []string, dest replication.Table, res *ImportResult) error {
	info, err := replication.Describe(ctx, tx, dest)
	if err != nil {
		return err
	}
	spec := &keyapply.TableSpec{Source: m.Table, Dest: dest, Key: []string{m.Key}}
	for _, name := range cols {
		c, ok := info.Column(name)
		if !ok {
			return &replication.ColumnError{Table: dest, Column: name, Err: replication.ErrColumnNotFound,
				Fix: "add the column to the destination table (the source has it)"}
		}
		spec.Columns = append(spec.Columns, c)
	}
	spec.DestColumns = spec.Columns
	if !spec.IsKey(m.Key) || len(cols) == 0 {
		return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: fmt.Sprintf("the columns file lacks the key %s", replication.QuoteIdent(m.Key))}
	}
	target := dest.Sanitize()
	list := sqltext.IdentList("", cols)
	if m.Full {
		tag, err := tx.Exec(ctx, `DELETE FROM `+target)
		if err != nil {
			return fmt.Errorf("import into %s: %w", dest, err)
		}
		res.Counts.Deleted = tag.RowsAffected()
		n, err := i.load(ctx, tx, dir, m, m.Rows, target, list, res)
		res.Counts.Inserted = n
		return err
	}
	key := replication.QuoteIdent(m.Key)
	const ids, rows = "pg_temp.pgmimeo_import_ids", "pg_temp.pgmimeo_import_rows"
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE pgmimeo_import_ids ON COMMIT DROP AS SELECT `+key+` FROM `+target+` WITH NO DATA;
		CREATE TEMP TABLE pgmimeo_import_rows ON COMMIT DROP AS SELECT `+list+` FROM `+target+` WITH NO DATA`); err != nil {
		return fmt.Errorf("import into %s: stage: %w", dest, err)
	}
	if _, err := i.load(ctx, tx, dir, m, m.IDs, ids, key, res); err != nil {
		return err
	}
	if _, err := i.load(ctx, tx, dir, m, m.Rows, rows, list, res); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `ANALYZE `+ids+`; ANALYZE `+rows); err != nil {
		return fmt.Errorf("import into %s: stage: %w", dest, err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM `+target+` d USING `+ids+` k WHERE d.`+key+` = k.`+key+
		` AND NOT EXISTS (SELECT 1 FROM `+rows+` r WHERE r.`+key+` = k.`+key+`)`)
	if err != nil {
		return fmt.Errorf("import into %s: delete: %w", dest, err)
	}
	res.Counts.Deleted = tag.RowsAffected()
	risky, err := keyapply.UniqueBeyondKey(ctx, tx, spec)
	if err != nil {
		return err
	}
	apply := keyapply.MergeRows
	if risky {
		apply = keyapply.ReplaceRows
	}
	res.Counts.Updated, res.Counts.Inserted, err = apply(ctx, tx, spec, rows, nil)
	if err != nil {
		return fmt.Errorf("import into %s: %w", dest, err)
	}
	return nil
}

// load copies a data file (COPY text) into table (quoted) and checks it.
func (i *Importer) load(ctx context.Context, tx pgx.Tx, dir string, m *Manifest, f File, table, cols string, res *ImportResult) (int64, error) {
	r, err := openVerified(dir, m, f)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, r, `COPY `+table+` (`+cols+`) FROM STDIN`)
	if err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			return 0, be
		}
		if cerr := r.check(); cerr != nil {
			return 0, cerr
		}
		return 0, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: fmt.Sprintf("load %s: %v", f.Name, err)}
	}
	if err := r.check(); err != nil {
		return 0, err
	}
	if tag.RowsAffected() != f.Rows {
		return 0, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt,
			Detail: fmt.Sprintf("%s has %d rows, the manifest says %d", f.Name, tag.RowsAffected(), f.Rows)}
	}
	res.Bytes += f.Bytes
	return tag.RowsAffected(), nil
}

// record saves the applied batch in the destination transaction.
func (i *Importer) record(ctx context.Context, tx pgx.Tx, m *Manifest, sum string, dest replication.Table) error {
	_, err := tx.Exec(ctx, `INSERT INTO `+replication.QuoteIdent(i.cfg.Schema)+`.applied_batch AS a
		(dest_schema, dest_table, source, source_schema, source_table, target_host, target_database, batch, full_export, manifest_sha256, "rows")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (dest_schema, dest_table) DO UPDATE SET source = EXCLUDED.source, source_schema = EXCLUDED.source_schema,
		  source_table = EXCLUDED.source_table, target_host = EXCLUDED.target_host, target_database = EXCLUDED.target_database,
		  batch = EXCLUDED.batch, full_export = EXCLUDED.full_export, manifest_sha256 = EXCLUDED.manifest_sha256,
		  "rows" = EXCLUDED."rows", applied_at = pg_catalog.now()`,
		dest.Schema, dest.Name, m.Source, m.Table.Schema, m.Table.Name, m.Target.Host, m.Target.Database, m.Batch, m.Full, sum, m.Rows.Rows)
	if err != nil {
		return fmt.Errorf("record batch %d in %s: %w", m.Batch, dest, err)
	}
	return nil
}

// AckPath returns where the acknowledgement of the batch in dir is written.
func (i *Importer) AckPath(dir string) string {
	clean := filepath.Clean(dir)
	ackDir := i.cfg.AckDir
	if ackDir == "" {
		ackDir = filepath.Dir(clean)
	}
	return filepath.Join(ackDir, filepath.Base(clean)+".ack.json")
}

func (i *Importer) writeAck(dir string, m *Manifest, sum string, dest replication.Table) (string, error) {
	a := Ack{Source: m.Source, Table: m.Table, Target: m.Target, Batch: m.Batch, ManifestSHA256: sum, Dest: dest, AppliedAt: time.Now().UTC()}
	raw, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", err
	}
	path := i.AckPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, writeFileAtomic(path, append(raw, '\n'))
}

// ReadAck reads an acknowledgement file.
func ReadAck(path string) (*Ack, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &BatchError{Dir: path, Err: ErrCorrupt, Detail: err.Error()}
	}
	var a Ack
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, &BatchError{Dir: path, Err: ErrCorrupt, Detail: "acknowledgement: " + err.Error()}
	}
	return &a, nil
}

// readColumns reads the columns file: a CSV header "name,type", then one
// column per line.
func readColumns(dir string, m *Manifest) ([]string, error) {
	r, err := openVerified(dir, m, m.Columns)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: "columns: " + err.Error()}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) != 2 || recs[0][0] != "name" || int64(len(recs)-1) != m.Columns.Rows {
		return nil, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: "columns file does not match the manifest"}
	}
	out := make([]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		out = append(out, rec[0])
	}
	return out, nil
}

// Counts are the destination rows one import wrote.
type Counts struct {
	Inserted int64
	Updated  int64
	Deleted  int64
}
