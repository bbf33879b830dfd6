package export

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Exporter writes the changes of one source table to files, per target.
type Exporter struct {
	pool  *pgxpool.Pool
	table replication.Table
	cfg   ExporterConfig
}

// NewExporter returns the exporter of table on the source behind pool. It
// does not touch the database; Install sets the table up.
func NewExporter(pool *pgxpool.Pool, table replication.Table, cfg *ExporterConfig) (*Exporter, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := table.Validate(); err != nil {
		return nil, err
	}
	return &Exporter{pool: pool, table: table, cfg: c}, nil
}

// Table returns the exported table.
func (e *Exporter) Table() replication.Table { return e.table }

// Install makes the tracking tables (if missing), the shadow table, the
// trigger function and the trigger, in one transaction: TrackingSQL and
// ExporterSQL. The role needs SELECT and TRIGGER on the table and must own
// the schema (or be allowed to create it). A table that already has an
// exporter is a *replication.TableError wrapping replication.ErrExists.
func (e *Exporter) Install(ctx context.Context) error {
	return durable.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		_, col, err := keyColumn(ctx, tx, e.table, e.cfg.Key)
		if err != nil {
			return err
		}
		if err := installTracking(ctx, tx, e.cfg.Schema); err != nil {
			return err
		}
		sql, err := ExporterSQL(e.cfg.Schema, e.table, e.cfg.Key, col.Type)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			switch {
			case isCode(err, pgerrcode.DuplicateTable), isCode(err, pgerrcode.DuplicateFunction), isCode(err, pgerrcode.DuplicateObject):
				return &replication.TableError{Table: e.table, Err: replication.ErrExists,
					Fix: "the table already has an exporter; Uninstall it first to make it again"}
			case isCode(err, pgerrcode.InsufficientPrivilege):
				return &replication.TableError{Table: e.table, Err: replication.ErrPrivilege,
					Fix: fmt.Sprintf("GRANT SELECT, TRIGGER ON %s TO <role>, and let the role own schema %s: %v",
						e.table, replication.QuoteIdent(e.cfg.Schema), err)}
			}
			return fmt.Errorf("install exporter of %s: %w", e.table, err)
		}
		return nil
	})
}

// Uninstall removes the trigger, its function, the shadow table and the
// table's tracking rows. The tracking tables stay.
func (e *Exporter) Uninstall(ctx context.Context) error {
	return durable.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(`+lockSQL+`)`, lockName(e.table)); err != nil {
			return fmt.Errorf("lock exports of %s: %w", e.table, err)
		}
		s := replication.QuoteIdent(e.cfg.Schema)
		for _, q := range []string{
			`DROP FUNCTION IF EXISTS ` + captureFunction(e.cfg.Schema, e.table).Sanitize() + `() CASCADE`,
			`DROP TABLE IF EXISTS ` + ShadowTable(e.cfg.Schema, e.table).Sanitize(),
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("uninstall exporter of %s: %w", e.table, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+s+`.export_target WHERE table_schema = $1 AND table_name = $2`,
			e.table.Schema, e.table.Name); err != nil && !isCode(err, pgerrcode.UndefinedTable) {
			return fmt.Errorf("uninstall exporter of %s: %w", e.table, err)
		}
		return nil
	})
}

// ExportResult is what one export wrote.
type ExportResult struct {
	// Dir is the batch directory; empty when Skipped.
	Dir string
	// Manifest describes the batch; nil when Skipped.
	Manifest *Manifest
	// Skipped is true when the target had nothing unacknowledged and
	// nothing changed: no batch was written and no number used.
	Skipped bool
}

// lock takes the table's export lock on conn (a session lock) and returns
// its release.
func (e *Exporter) lock(ctx context.Context, conn *pgxpool.Conn) (func(), error) {
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_advisory_lock(`+lockSQL+`)`, lockName(e.table)); err != nil {
		return nil, fmt.Errorf("lock exports of %s: %w", e.table, err)
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.pg_advisory_unlock(`+lockSQL+`)`, lockName(e.table)); err != nil {
			// The session's lock could not be released: drop the session.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}, nil
}

// Export writes a batch for target into dir, as directory
// "<table>.<target>.<batch number>" (see the package documentation for the
// files). The batch holds every change not acknowledged by the target: the
// changes of batches exported but not yet acknowledged are in it again. A
// target's first batch, and the first after Reset, is a full one. When
// there is nothing to send, no batch is written (Skipped).
//
// The batch is recorded in the source's tracking tables before its
// directory is renamed into place, so a crash between the two leaves a
// batch number that was never delivered, which the next export covers.
func (e *Exporter) Export(ctx context.Context, target Target, dir string) (*ExportResult, error) {
	if err := target.validate(); err != nil {
		return nil, err
	}
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", e.table, err)
	}
	defer conn.Release()
	unlock, err := e.lock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// One snapshot for the position, the changed keys and the rows.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", e.table, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	res, w, err := e.export(ctx, tx, target, dir)
	if err != nil || res.Skipped {
		if w != nil {
			w.abort()
		}
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		w.abort()
		return nil, fmt.Errorf("export %s: record batch %d: %w", e.table, res.Manifest.Batch, err)
	}
	if err := w.commit(); err != nil {
		w.abort()
		return nil, fmt.Errorf("export %s: batch %d is recorded but its files were not published, the next export will hold its changes: %w",
			e.table, res.Manifest.Batch, err)
	}
	e.cfg.Logger.InfoContext(ctx, "exported batch", "table", e.table.String(), "target", target.String(),
		"batch", res.Manifest.Batch, "full", res.Manifest.Full, "ids", res.Manifest.IDs.Rows, "rows", res.Manifest.Rows.Rows)
	return res, nil
}

func (e *Exporter) export(ctx context.Context, tx pgx.Tx, target Target, dir string) (*ExportResult, *batchWriter, error) {
	s := replication.QuoteIdent(e.cfg.Schema)
	info, _, err := keyColumn(ctx, tx, e.table, e.cfg.Key)
	if err != nil {
		return nil, nil, err
	}
	args := []any{e.table.Schema, e.table.Name, target.Host, target.Database}
	if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.export_target (table_schema, table_name, target_host, target_database)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, args...); err != nil {
		if isCode(err, pgerrcode.UndefinedTable) {
			return nil, nil, &replication.TableError{Table: e.table, Err: replication.ErrNotManaged, Fix: "Install the exporter first"}
		}
		return nil, nil, fmt.Errorf("export %s: %w", e.table, err)
	}
	m := &Manifest{Format: FormatVersion, Source: e.cfg.SourceName, Table: e.table, Key: e.cfg.Key, Target: target}
	var last int64
	var acked *string
	err = tx.QueryRow(ctx, `SELECT t.last_batch, t.acked_batch, t.acked_snapshot::text, pg_catalog.pg_current_snapshot()::text,
		pg_catalog.current_database()::text, pg_catalog.now()
		FROM `+s+`.export_target t
		WHERE t.table_schema = $1 AND t.table_name = $2 AND t.target_host = $3 AND t.target_database = $4`, args...).
		Scan(&last, &m.Since, &acked, &m.Snapshot, &m.Source, &m.ExportedAt)
	if err != nil {
		return nil, nil, fmt.Errorf("export %s: read position of %s: %w", e.table, target, err)
	}
	if e.cfg.SourceName != "" {
		m.Source = e.cfg.SourceName
	}
	m.ExportedAt = m.ExportedAt.UTC()
	m.Batch = last + 1
	m.Full = acked == nil
	if m.Full {
		m.Since = 0
	}
	if err := e.purge(ctx, tx); err != nil {
		return nil, nil, err
	}
	stream := streamName(e.table, target)
	w, err := newBatchWriter(dir, stream, batchDirName(stream, m.Batch))
	if err != nil {
		return nil, nil, err
	}
	if m.Columns, err = writeColumns(w, info.Columns); err != nil {
		return nil, w, err
	}
	table := e.table.Sanitize()
	key := replication.QuoteIdent(e.cfg.Key)
	cols := make([]string, len(info.Columns))
	for i, c := range info.Columns {
		cols[i] = c.Name
	}
	var idsSQL, rowsSQL string
	if m.Full {
		idsSQL = `SELECT ` + key + ` FROM ` + table
		rowsSQL = `SELECT ` + sqltext.IdentList("", cols) + ` FROM ` + table
	} else {
		changed := `SELECT id FROM ` + ShadowTable(e.cfg.Schema, e.table).Sanitize() +
			` WHERE NOT pg_catalog.pg_visible_in_snapshot(txid, ` + sqltext.Literal(*acked) + `::pg_catalog.pg_snapshot)`
		idsSQL = `SELECT DISTINCT id FROM (` + changed + `) c`
		rowsSQL = `SELECT ` + sqltext.IdentList("b", cols) + ` FROM ` + table + ` b WHERE b.` + key + ` IN (` + changed + `)`
	}
	if m.IDs, err = copyToFile(ctx, tx, w, IDsFile, idsSQL); err != nil {
		return nil, w, err
	}
	if !m.Full && m.IDs.Rows == 0 {
		return &ExportResult{Skipped: true}, w, nil
	}
	if m.Rows, err = copyToFile(ctx, tx, w, RowsFile, rowsSQL); err != nil {
		return nil, w, err
	}
	sum, err := w.writeManifest(m)
	if err != nil {
		return nil, w, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.export_batch (table_schema, table_name, target_host, target_database,
		batch, since_batch, full_export, snapshot, ids, "rows", manifest_sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::pg_catalog.pg_snapshot, $9, $10, $11)`,
		append(args, m.Batch, m.Since, m.Full, m.Snapshot, m.IDs.Rows, m.Rows.Rows, sum)...); err != nil {
		return nil, w, fmt.Errorf("export %s: record batch: %w", e.table, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE `+s+`.export_target SET last_batch = $5
		WHERE table_schema = $1 AND table_name = $2 AND target_host = $3 AND target_database = $4`, append(args, m.Batch)...); err != nil {
		return nil, w, fmt.Errorf("export %s: record batch: %w", e.table, err)
	}
	return &ExportResult{Dir: w.final, Manifest: m}, w, nil
}

// purge deletes the shadow entries that no target needs any more: those
// visible in every target's floor, the snapshot of its acknowledged batch,
// or for a target due a full export, of its oldest unacknowledged full
// batch (none: it needs no entry, the full batch will hold every row).
// It runs under the table's export lock, which acknowledgements and resets
// also take.
func (e *Exporter) purge(ctx context.Context, tx pgx.Tx) error {
	s := replication.QuoteIdent(e.cfg.Schema)
	_, err := tx.Exec(ctx, `WITH floors AS (
		SELECT coalesce(t.acked_snapshot, (SELECT b.snapshot FROM `+s+`.export_batch b
			WHERE (b.table_schema, b.table_name, b.target_host, b.target_database) = (t.table_schema, t.table_name, t.target_host, t.target_database)
			  AND b.batch > t.reset_after AND b.batch > t.acked_batch ORDER BY b.batch LIMIT 1)) AS snap
		FROM `+s+`.export_target t WHERE t.table_schema = $1 AND t.table_name = $2)
	DELETE FROM `+ShadowTable(e.cfg.Schema, e.table).Sanitize()+` c
	WHERE NOT EXISTS (SELECT 1 FROM floors f WHERE f.snap IS NOT NULL AND NOT pg_catalog.pg_visible_in_snapshot(c.txid, f.snap))`,
		e.table.Schema, e.table.Name)
	if err != nil {
		return fmt.Errorf("export %s: purge shadow table: %w", e.table, err)
	}
	return nil
}

// writeColumns writes the columns file: CSV with a header line "name,type",
// then one line per column in table order.
func writeColumns(w *batchWriter, cols []replication.Column) (File, error) {
	fw, err := w.create(ColumnsFile)
	if err != nil {
		return File{}, err
	}
	cw := csv.NewWriter(fw)
	_ = cw.Write([]string{"name", "type"})
	for _, c := range cols {
		_ = cw.Write([]string{c.Name, c.Type})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		fw.close()
		return File{}, fmt.Errorf("write columns: %w", err)
	}
	return fw.finish(int64(len(cols)))
}

// copyToFile writes the text COPY of query into a new file of the batch.
func copyToFile(ctx context.Context, tx pgx.Tx, w *batchWriter, name, query string) (File, error) {
	fw, err := w.create(name)
	if err != nil {
		return File{}, err
	}
	tag, err := tx.Conn().PgConn().CopyTo(ctx, fw, `COPY (`+query+`) TO STDOUT`)
	if err != nil {
		fw.close()
		return File{}, fmt.Errorf("write %s: %w", name, err)
	}
	return fw.finish(tag.RowsAffected())
}

// Confirm records that target applied batch n: the target's position
// advances to it, so the next export holds only later changes. Confirming
// a batch at or before the position, or exported before the last Reset, changes
// nothing and returns false. An unknown batch is a *BatchError wrapping
// ErrUnknownBatch.
func (e *Exporter) Confirm(ctx context.Context, target Target, n int64) (bool, error) {
	return e.confirm(ctx, target, n, "", "")
}

// Acknowledge reads an acknowledgement file written by the importer and
// confirms its batch (see Confirm). An acknowledgement for another table
// or source, or whose manifest checksum is not that of the exported batch,
// is refused.
func (e *Exporter) Acknowledge(ctx context.Context, path string) (bool, error) {
	a, err := ReadAck(path)
	if err != nil {
		return false, err
	}
	if a.Table != e.table {
		return false, &BatchError{Dir: path, Batch: a.Batch, Err: ErrWrongStream,
			Detail: fmt.Sprintf("acknowledges table %s, this exporter is %s", a.Table, e.table)}
	}
	if e.cfg.SourceName != "" && a.Source != e.cfg.SourceName {
		return false, &BatchError{Dir: path, Batch: a.Batch, Err: ErrWrongStream,
			Detail: fmt.Sprintf("acknowledges source %q, this exporter is %q", a.Source, e.cfg.SourceName)}
	}
	if a.ManifestSHA256 == "" {
		return false, &BatchError{Dir: path, Batch: a.Batch, Err: ErrCorrupt, Detail: "no manifest checksum"}
	}
	return e.confirm(ctx, a.Target, a.Batch, a.ManifestSHA256, path)
}

func (e *Exporter) confirm(ctx context.Context, target Target, n int64, sum, where string) (bool, error) {
	if err := target.validate(); err != nil {
		return false, err
	}
	if where == "" {
		where = target.String()
	}
	s := replication.QuoteIdent(e.cfg.Schema)
	args := []any{e.table.Schema, e.table.Name, target.Host, target.Database}
	advanced := false
	err := durable.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(`+lockSQL+`)`, lockName(e.table)); err != nil {
			return fmt.Errorf("lock exports of %s: %w", e.table, err)
		}
		var acked, resetAfter int64
		err := tx.QueryRow(ctx, `SELECT acked_batch, reset_after FROM `+s+`.export_target
			WHERE table_schema = $1 AND table_name = $2 AND target_host = $3 AND target_database = $4 FOR UPDATE`, args...).Scan(&acked, &resetAfter)
		if errors.Is(err, pgx.ErrNoRows) {
			return &BatchError{Dir: where, Batch: n, Err: ErrUnknownBatch, Detail: fmt.Sprintf("nothing was exported to %s", target)}
		}
		if err != nil {
			return fmt.Errorf("confirm batch %d of %s: %w", n, e.table, err)
		}
		if n <= acked || n <= resetAfter {
			return nil
		}
		var have string
		err = tx.QueryRow(ctx, `SELECT manifest_sha256 FROM `+s+`.export_batch
			WHERE table_schema = $1 AND table_name = $2 AND target_host = $3 AND target_database = $4 AND batch = $5`,
			append(args, n)...).Scan(&have)
		if errors.Is(err, pgx.ErrNoRows) {
			return &BatchError{Dir: where, Batch: n, Err: ErrUnknownBatch, Detail: fmt.Sprintf("batch %d was not exported to %s", n, target)}
		}
		if err != nil {
			return fmt.Errorf("confirm batch %d of %s: %w", n, e.table, err)
		}
		if sum != "" && sum != have {
			return &BatchError{Dir: where, Batch: n, Err: ErrUnknownBatch,
				Detail: "the acknowledged manifest is not the one exported", Fix: "acknowledge with the importer's file for this export"}
		}
		if _, err := tx.Exec(ctx, `UPDATE `+s+`.export_target t SET acked_batch = b.batch, acked_snapshot = b.snapshot, acked_at = pg_catalog.now()
			FROM `+s+`.export_batch b
			WHERE (b.table_schema, b.table_name, b.target_host, b.target_database) = (t.table_schema, t.table_name, t.target_host, t.target_database)
			  AND t.table_schema = $1 AND t.table_name = $2 AND t.target_host = $3 AND t.target_database = $4 AND b.batch = $5`,
			append(args, n)...); err != nil {
			return fmt.Errorf("confirm batch %d of %s: %w", n, e.table, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+s+`.export_batch
			WHERE table_schema = $1 AND table_name = $2 AND target_host = $3 AND target_database = $4 AND batch <= $5`,
			append(args, n)...); err != nil {
			return fmt.Errorf("confirm batch %d of %s: %w", n, e.table, err)
		}
		advanced = true
		return nil
	})
	if err == nil && advanced {
		e.cfg.Logger.InfoContext(ctx, "confirmed batch", "table", e.table.String(), "target", target.String(), "batch", n)
	}
	return advanced, err
}

// Reset returns target to a full re-export (ResetSQL): its next batch
// holds every row, and the importer replaces the destination's rows with
// them. It returns false when nothing was ever exported to target.
func (e *Exporter) Reset(ctx context.Context, target Target) (bool, error) {
	sql, err := ResetSQL(e.cfg.Schema, e.table, target)
	if err != nil {
		return false, err
	}
	var ok *bool
	if err := e.pool.QueryRow(ctx, sql).Scan(&ok); err != nil {
		return false, fmt.Errorf("reset %s for %s: %w", e.table, target, err)
	}
	return ok != nil && *ok, nil
}

// TargetState is where one target of the table stands.
type TargetState struct {
	Target Target
	// LastBatch is the last batch exported; AckedBatch the last one
	// acknowledged.
	LastBatch, AckedBatch int64
	// FullNext is true when the next export is a full one.
	FullNext bool
	// AckedAt is when AckedBatch was acknowledged (zero if never).
	AckedAt time.Time
}

// Targets returns the state of every target of the table, ordered by host
// and database.
func (e *Exporter) Targets(ctx context.Context) ([]TargetState, error) {
	rows, err := e.pool.Query(ctx, `SELECT target_host, target_database, last_batch, acked_batch, acked_snapshot IS NULL,
		acked_at FROM `+replication.QuoteIdent(e.cfg.Schema)+`.export_target
		WHERE table_schema = $1 AND table_name = $2 ORDER BY 1, 2`, e.table.Schema, e.table.Name)
	if err != nil {
		return nil, fmt.Errorf("targets of %s: %w", e.table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TargetState, error) {
		var t TargetState
		var at *time.Time
		err := r.Scan(&t.Target.Host, &t.Target.Database, &t.LastBatch, &t.AckedBatch, &t.FullNext, &at)
		if at != nil {
			t.AckedAt = *at
		}
		return t, err
	})
}

// BatchDir returns the path of batch n for target in dir.
func (e *Exporter) BatchDir(dir string, target Target, n int64) string {
	return filepath.Join(dir, batchDirName(streamName(e.table, target), n))
}
