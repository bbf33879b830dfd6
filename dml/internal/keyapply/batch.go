package keyapply

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// DeletedAtColumn is the column that holds a deleted row's deletion time,
// in the queue of a variant that keeps deleted rows and on a logdel
// destination.
const DeletedAtColumn = "mimeo_source_deleted"

// Columns of the staging table besides the replicated ones; a source
// column may not be named so.
const (
	PresentColumn   = "mimeo_present"
	deletedAtStaged = "mimeo_deleted_at"
)

// changesTable is the staging table of a batch (temporary, dropped at
// commit).
const changesTable = "mimeo_changes"

// BatchStats is what was loaded into a batch.
type BatchStats struct {
	// Changes is the number of changed keys loaded.
	Changes int64
	// Bytes is the size of the COPY streams that loaded them.
	Bytes int64
}

// Batch is one set of changes staged in a destination transaction, the
// unit the apply works on. It holds one entry per changed key, in a
// temporary table of the transaction's session typed as the destination's
// columns: the key's current source row (when it exists and matches the
// condition), or, for variants that keep deleted rows, the row's last
// values and deletion time, or just the key when there is no row.
//
// A capture fills it from a COPY stream (CopyChanges) or from values it
// holds (AddKeys, AddRows, AddDeleted); Apply then makes the destination
// match in one set-wise pass. The caller saves its progress with
// replication.Catalog.SaveState in the same transaction and commits. A key
// may be loaded more than once, but with at most one row.
type Batch struct {
	tx      pgx.Tx
	spec    *TableSpec
	variant Variant
	stats   BatchStats
}

// StageBatch creates the staging table of a batch in tx, and sets tx to
// read values in text form under copypipe.TextSettings, as every source
// prints them. One batch per transaction.
func StageBatch(ctx context.Context, tx pgx.Tx, spec *TableSpec, v Variant) (*Batch, error) {
	if v == nil {
		v = Plain
	}
	_, err := tx.Exec(ctx, `CREATE TEMP TABLE `+changesTable+` ON COMMIT DROP AS SELECT `+sqltext.IdentList("", spec.ColumnNames())+
		`, NULL::boolean AS `+PresentColumn+`, NULL::timestamptz AS `+deletedAtStaged+` FROM `+spec.Dest.Sanitize()+` WITH NO DATA`)
	if err == nil {
		_, err = tx.Exec(ctx, copypipe.TextSettings)
	}
	if err != nil {
		return nil, fmt.Errorf("stage batch for %s: %w", spec.Dest, err)
	}
	return &Batch{tx: tx, spec: spec, variant: v}, nil
}

// stagedColumns are the staging table's columns, in order.
func (b *Batch) stagedColumns() []string {
	return append(b.spec.ColumnNames(), PresentColumn, deletedAtStaged)
}

// Tx returns the batch's transaction.
func (b *Batch) Tx() pgx.Tx { return b.tx }

// Spec returns the table the batch applies to.
func (b *Batch) Spec() *TableSpec { return b.spec }

// Stats returns what has been loaded so far.
func (b *Batch) Stats() BatchStats { return b.stats }

const stagedTable = "pg_temp." + changesTable

// KeysTable is a subquery (to use in FROM) of every changed key: the key
// columns.
func (b *Batch) KeysTable() string {
	return `(SELECT ` + sqltext.IdentList("", b.spec.Key) + ` FROM ` + stagedTable + `)`
}

// AbsentTable is a subquery of the changed keys that have neither a
// current row nor a kept deleted row: the key columns.
func (b *Batch) AbsentTable() string {
	return `(SELECT ` + sqltext.IdentList("", b.spec.Key) + ` FROM ` + stagedTable + ` WHERE NOT ` + PresentColumn + `)`
}

// RowsTable is a subquery of the current rows: the replicated columns.
func (b *Batch) RowsTable() string {
	return `(SELECT ` + sqltext.IdentList("", b.spec.ColumnNames()) + ` FROM ` + stagedTable + ` WHERE ` + PresentColumn +
		` AND ` + deletedAtStaged + ` IS NULL)`
}

// DeletedTable is a subquery of the deleted rows kept by variants that keep
// them: the replicated columns and DeletedAtColumn.
func (b *Batch) DeletedTable() string {
	return `(SELECT ` + sqltext.IdentList("", b.spec.ColumnNames()) + `, ` + deletedAtStaged + ` AS ` + replication.QuoteIdent(DeletedAtColumn) +
		` FROM ` + stagedTable + ` WHERE ` + PresentColumn + ` AND ` + deletedAtStaged + ` IS NOT NULL)`
}

// CopyChanges loads a COPY stream of changes (format binary when binary,
// else text): per key, the replicated columns (the key columns always
// set), whether a row is present, and the deletion time of a kept deleted
// row (else NULL).
func (b *Batch) CopyChanges(ctx context.Context, r io.Reader, binary bool) (int64, error) {
	format := "text"
	if binary {
		format = "binary"
	}
	cr := &countingReader{r: r}
	tag, err := b.tx.Conn().PgConn().CopyFrom(ctx, cr, `COPY `+stagedTable+` (`+sqltext.IdentList("", b.stagedColumns())+`) FROM STDIN (FORMAT `+format+`)`)
	b.stats.Changes += tag.RowsAffected()
	b.stats.Bytes += cr.n
	if err != nil {
		return tag.RowsAffected(), fmt.Errorf("stage changes of %s: %w", b.spec.Dest, err)
	}
	return tag.RowsAffected(), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// addRows loads values through pgx, extending each row of src by extra.
func (b *Batch) addRows(ctx context.Context, cols []string, src pgx.CopyFromSource, extra func([]any) ([]any, error)) (int64, error) {
	n, err := b.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", changesTable}, cols, &extendedSource{src: src, extend: extra})
	b.stats.Changes += n
	if err != nil {
		return n, fmt.Errorf("stage changes of %s: %w", b.spec.Dest, err)
	}
	return n, nil
}

type extendedSource struct {
	src    pgx.CopyFromSource
	extend func([]any) ([]any, error)
}

func (e *extendedSource) Next() bool { return e.src.Next() }
func (e *extendedSource) Err() error { return e.src.Err() }
func (e *extendedSource) Values() ([]any, error) {
	v, err := e.src.Values()
	if err != nil {
		return nil, err
	}
	return e.extend(v)
}

// AddKeys loads changed keys held by the caller (values in key order) that
// have no row.
func (b *Batch) AddKeys(ctx context.Context, keys pgx.CopyFromSource) (int64, error) {
	return b.addRows(ctx, append(append([]string(nil), b.spec.Key...), PresentColumn), keys, func(v []any) ([]any, error) {
		if len(v) != len(b.spec.Key) {
			return nil, fmt.Errorf("a key has %d values, want %d", len(v), len(b.spec.Key))
		}
		return append(v, false), nil
	})
}

// AddRows loads current rows held by the caller (values in column order).
func (b *Batch) AddRows(ctx context.Context, rows pgx.CopyFromSource) (int64, error) {
	return b.addRows(ctx, append(b.spec.ColumnNames(), PresentColumn), rows, func(v []any) ([]any, error) {
		if len(v) != len(b.spec.Columns) {
			return nil, fmt.Errorf("a row has %d values, want %d", len(v), len(b.spec.Columns))
		}
		return append(v, true), nil
	})
}

// AddDeleted loads deleted rows held by the caller (values in column order,
// then the deletion time), for variants that keep deleted rows.
func (b *Batch) AddDeleted(ctx context.Context, rows pgx.CopyFromSource) (int64, error) {
	if !b.variant.KeepsDeleted() {
		return 0, fmt.Errorf("stage deleted rows of %s: the %s variant does not keep deleted rows", b.spec.Dest, b.variant.Label())
	}
	return b.addRows(ctx, append(b.spec.ColumnNames(), deletedAtStaged, PresentColumn), rows, func(v []any) ([]any, error) {
		if len(v) != len(b.spec.Columns)+1 {
			return nil, fmt.Errorf("a deleted row has %d values, want %d", len(v), len(b.spec.Columns)+1)
		}
		return append(v, true), nil
	})
}

// Apply makes the destination table match the batch: keys without a
// current row are removed (or, for logdel, marked deleted), the others get
// their current row. It runs in the batch's transaction and does not commit.
func (b *Batch) Apply(ctx context.Context) (Counts, error) {
	if b.spec.DestLookups(b.stats.Changes) {
		// A batch that is small next to the table is best applied by index
		// Lookups, in the order the rows were staged, which is key order:
		// each destination page is visited once, in order. A hash join
		// would read the whole table; a merge join reads every row of the
		// key range the batch spans and first sorts the staged rows (wide
		// rows spill to disk). These statements need no JIT either.
		if _, err := b.tx.Exec(ctx, `SELECT pg_catalog.set_config('enable_hashjoin', 'off', true),
			pg_catalog.set_config('enable_mergejoin', 'off', true), pg_catalog.set_config('jit', 'off', true)`); err != nil {
			return Counts{}, fmt.Errorf("apply changes to %s: %w", b.spec.Dest, err)
		}
	}
	c, err := b.variant.Apply(ctx, b)
	if err != nil {
		return c, fmt.Errorf("apply changes to %s: %w", b.spec.Dest, err)
	}
	return c, nil
}

// CopyQuery loads the rows of query, run on src (a source connection), into
// the batch through one COPY pipe. The query returns the staged columns in
// order: the replicated columns, whether the key's row is present (true
// for current rows), and the deletion time (NULL for current rows).
func (b *Batch) CopyQuery(ctx context.Context, src *pgconn.PgConn, query string, binary bool) (copypipe.Stats, error) {
	st, err := copypipe.Copy(ctx, src, b.tx.Conn().PgConn(), copypipe.Spec{
		Query: query, Dest: stagedTable, Columns: b.stagedColumns(), Binary: binary,
	})
	b.stats.Changes += st.Rows
	b.stats.Bytes += st.Bytes
	return st, err
}

// KeepsDeleted reports whether the batch's variant keeps deleted rows.
func (b *Batch) KeepsDeleted() bool { return b.variant.KeepsDeleted() }

// ReservedColumns are the staging table's own columns: a source table may
// not have columns of these names.
func ReservedColumns() []string { return []string{PresentColumn, deletedAtStaged} }
