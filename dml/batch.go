package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// DeletedAtColumn is the column that holds a deleted row's deletion time,
// in the queue of a variant that keeps deleted rows, in Batch.DeletedTable
// and on a logdel destination.
const DeletedAtColumn = "mimeo_source_deleted"

// Names of the staging tables of a batch (temporary, dropped at commit).
const (
	keysTable    = "mimeo_keys"
	rowsTable    = "mimeo_rows"
	deletedTable = "mimeo_deleted"
)

// BatchStats is what was loaded into a batch.
type BatchStats struct {
	// Keys is the number of changed keys loaded.
	Keys int64
	// Rows is the number of current rows loaded.
	Rows int64
	// Deleted is the number of deleted rows loaded (variants that keep
	// them).
	Deleted int64
	// Bytes is the size of the COPY streams that loaded them.
	Bytes int64
}

// Batch is one set of changes staged in a destination transaction, the
// unit the apply works on. It holds, in temporary tables of the
// transaction's session:
//
//   - the keys that changed (KeysTable: the key columns);
//   - the current source rows of those keys that exist and match the
//     condition (RowsTable: the replicated columns);
//   - for variants that keep deleted rows, the last values of deleted rows
//     and their deletion time (DeletedTable: the replicated columns and
//     DeletedAtColumn).
//
// A capture fills it either by streaming COPY from the source (CopyKeys,
// CopyRows, CopyDeleted) or from values it holds (AddKeys, AddRows,
// AddDeleted); Apply then makes the destination match in one set-wise pass.
// The caller saves its progress with replication.Catalog.SaveState in the
// same transaction and commits. A key may be loaded more than once; a row
// must be loaded at most once per key.
type Batch struct {
	tx      pgx.Tx
	spec    *TableSpec
	variant Variant
	stats   BatchStats
}

// StageBatch creates the staging tables of a batch in tx, typed as the
// destination's columns. One batch per transaction.
func StageBatch(ctx context.Context, tx pgx.Tx, spec *TableSpec, v Variant) (*Batch, error) {
	if v == nil {
		v = Plain
	}
	dest := spec.Dest.Sanitize()
	stmts := []string{
		`CREATE TEMP TABLE ` + keysTable + ` ON COMMIT DROP AS SELECT ` + List("", spec.Key) + ` FROM ` + dest + ` WITH NO DATA`,
		`CREATE TEMP TABLE ` + rowsTable + ` ON COMMIT DROP AS SELECT ` + List("", spec.ColumnNames()) + ` FROM ` + dest + ` WITH NO DATA`,
	}
	if v.KeepsDeleted() {
		stmts = append(stmts, `CREATE TEMP TABLE `+deletedTable+` ON COMMIT DROP AS SELECT `+List("", spec.ColumnNames())+
			`, NULL::timestamptz AS `+replication.QuoteIdent(DeletedAtColumn)+` FROM `+dest+` WITH NO DATA`)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return nil, fmt.Errorf("stage batch for %s: %w", spec.Dest, err)
		}
	}
	return &Batch{tx: tx, spec: spec, variant: v}, nil
}

// Tx returns the batch's transaction.
func (b *Batch) Tx() pgx.Tx { return b.tx }

// Spec returns the table the batch applies to.
func (b *Batch) Spec() *TableSpec { return b.spec }

// Stats returns what has been loaded so far.
func (b *Batch) Stats() BatchStats { return b.stats }

// KeysTable is the quoted name of the staged keys.
func (b *Batch) KeysTable() string { return "pg_temp." + keysTable }

// RowsTable is the quoted name of the staged current rows.
func (b *Batch) RowsTable() string { return "pg_temp." + rowsTable }

// DeletedTable is the quoted name of the staged deleted rows; it exists
// only for variants that keep deleted rows.
func (b *Batch) DeletedTable() string { return "pg_temp." + deletedTable }

func (b *Batch) copyIn(ctx context.Context, src *pgconn.PgConn, query, table string, cols []string, binary bool) (int64, error) {
	st, err := copypipe.Copy(ctx, src, b.tx.Conn().PgConn(), copypipe.Spec{
		Query: query, Dest: "pg_temp." + table, Columns: cols, Binary: binary,
	})
	b.stats.Bytes += st.Bytes
	return st.Rows, err
}

// CopyKeys streams the result of query, run on src, into the staged keys.
// The query returns the key columns in key order.
func (b *Batch) CopyKeys(ctx context.Context, src *pgconn.PgConn, query string) (int64, error) {
	n, err := b.copyIn(ctx, src, query, keysTable, b.spec.Key, b.spec.binaryKeys())
	b.stats.Keys += n
	if err != nil {
		return n, fmt.Errorf("fetch changed keys of %s: %w", b.spec.Source, err)
	}
	return n, nil
}

// CopyRows streams the result of query, run on src, into the staged rows.
// The query returns the replicated columns in order.
func (b *Batch) CopyRows(ctx context.Context, src *pgconn.PgConn, query string) (int64, error) {
	n, err := b.copyIn(ctx, src, query, rowsTable, b.spec.ColumnNames(), b.spec.binaryRows())
	b.stats.Rows += n
	if err != nil {
		return n, fmt.Errorf("fetch current rows of %s: %w", b.spec.Source, err)
	}
	return n, nil
}

// CopyDeleted streams the result of query, run on src, into the staged
// deleted rows. The query returns the replicated columns in order and then
// the deletion time.
func (b *Batch) CopyDeleted(ctx context.Context, src *pgconn.PgConn, query string) (int64, error) {
	if !b.variant.KeepsDeleted() {
		return 0, fmt.Errorf("stage deleted rows of %s: the %s variant does not keep deleted rows", b.spec.Source, b.variant.Label())
	}
	cols := append(b.spec.ColumnNames(), DeletedAtColumn)
	n, err := b.copyIn(ctx, src, query, deletedTable, cols, false)
	b.stats.Deleted += n
	if err != nil {
		return n, fmt.Errorf("fetch deleted rows of %s: %w", b.spec.Source, err)
	}
	return n, nil
}

// AddKeys loads keys held by the caller (values in key order).
func (b *Batch) AddKeys(ctx context.Context, rows pgx.CopyFromSource) (int64, error) {
	n, err := b.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", keysTable}, b.spec.Key, rows)
	b.stats.Keys += n
	if err != nil {
		return n, fmt.Errorf("stage keys of %s: %w", b.spec.Dest, err)
	}
	return n, nil
}

// AddRows loads current rows held by the caller (values in column order).
func (b *Batch) AddRows(ctx context.Context, rows pgx.CopyFromSource) (int64, error) {
	n, err := b.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", rowsTable}, b.spec.ColumnNames(), rows)
	b.stats.Rows += n
	if err != nil {
		return n, fmt.Errorf("stage rows of %s: %w", b.spec.Dest, err)
	}
	return n, nil
}

// AddDeleted loads deleted rows held by the caller (values in column order,
// then the deletion time).
func (b *Batch) AddDeleted(ctx context.Context, rows pgx.CopyFromSource) (int64, error) {
	if !b.variant.KeepsDeleted() {
		return 0, fmt.Errorf("stage deleted rows of %s: the %s variant does not keep deleted rows", b.spec.Dest, b.variant.Label())
	}
	n, err := b.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", deletedTable}, append(b.spec.ColumnNames(), DeletedAtColumn), rows)
	b.stats.Deleted += n
	if err != nil {
		return n, fmt.Errorf("stage deleted rows of %s: %w", b.spec.Dest, err)
	}
	return n, nil
}

// Apply makes the destination table match the batch: keys without a
// current row are removed (or, for logdel, marked deleted), the others get
// their current row. It runs in the batch's transaction and does not commit.
func (b *Batch) Apply(ctx context.Context) (Counts, error) {
	c, err := b.variant.Apply(ctx, b)
	if err != nil {
		return c, fmt.Errorf("apply changes to %s: %w", b.spec.Dest, err)
	}
	return c, nil
}
