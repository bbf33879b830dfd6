package keyapply

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Plain is the variant of plain DML replay: a key without a current source
// row is deleted from the destination.
var Plain Variant = plain{}

type plain struct{}

func (plain) Kind() replication.Kind                               { return replication.KindDML }
func (plain) Label() string                                        { return "DML" }
func (plain) KeepsDeleted() bool                                   { return false }
func (plain) ExtraColumns() []ExtraColumn                          { return nil }
func (plain) AdaptIndex(ix replication.Index, dest string) string  { return IndexSQL(ix, dest) }
func (plain) FinishDest(context.Context, pgx.Tx, *TableSpec) error { return nil }

// IndexSQL returns the statement that makes source index ix on table dest
// (quoted): a primary key as a primary key, others by their definition.
func IndexSQL(ix replication.Index, dest string) string {
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	}
	return "CREATE " + unique + "INDEX ON " + dest + " " + ix.Body
}

// Apply deletes the keys that have no current row, then merges the current
// rows: rows whose image differs are updated, missing ones inserted. When
// the destination has a unique index that does not contain the whole key,
// an update of several rows could collide with itself (two rows swapping a
// unique value), so the rows of the batch are deleted and inserted instead.
func (plain) Apply(ctx context.Context, b *Batch) (Counts, error) {
	s := b.Spec()
	tx := b.Tx()
	var c Counts
	dest := s.Dest.Sanitize()
	tag, err := tx.Exec(ctx, `DELETE FROM `+dest+` d USING `+b.AbsentTable()+` k WHERE `+s.KeyMatch("d", "k"))
	if err != nil {
		return c, fmt.Errorf("delete removed keys: %w", err)
	}
	c.Deleted = tag.RowsAffected()
	risky, err := UniqueBeyondKey(ctx, tx, s)
	if err != nil {
		return c, err
	}
	if risky {
		u, i, err := ReplaceRows(ctx, tx, s, b.RowsTable(), nil)
		c.Updated, c.Inserted = u, i
		return c, err
	}
	u, i, err := MergeRows(ctx, tx, s, b.RowsTable(), nil)
	c.Updated, c.Inserted = u, i
	return c, err
}

// Reload truncates the destination and loads every source row.
func (plain) Reload(ctx context.Context, b *Batch, load func(ctx context.Context, freeze bool) (int64, error)) (Counts, error) {
	if _, err := b.Tx().Exec(ctx, `TRUNCATE `+b.Spec().Dest.Sanitize()); err != nil {
		return Counts{}, fmt.Errorf("truncate %s: %w", b.Spec().Dest, err)
	}
	n, err := load(ctx, true)
	return Counts{Inserted: n}, err
}

// Repair deletes every destination row of the ranges and inserts the
// source's rows of the ranges.
func (plain) Repair(ctx context.Context, b *Batch, inRanges string) (Counts, error) {
	return ReplaceRanges(ctx, b, inRanges, "")
}

// ReplaceRanges deletes the destination rows d for which inRanges is true,
// except, when keep is not empty, those for which keep is also true and
// whose key has no row in b; then it inserts b's rows (RowsTable), with the
// destination's other columns at their defaults. It returns the rows
// deleted and inserted.
func ReplaceRanges(ctx context.Context, b *Batch, inRanges, keep string) (Counts, error) {
	s := b.Spec()
	dest := s.Dest.Sanitize()
	where := `(` + inRanges + `)`
	if keep != "" {
		where += ` AND (NOT (` + keep + `) OR EXISTS (SELECT 1 FROM ` + b.RowsTable() + ` r WHERE ` + s.KeyMatch("d", "r") + `))`
	}
	var c Counts
	tag, err := b.Tx().Exec(ctx, `DELETE FROM `+dest+` d WHERE `+where)
	if err != nil {
		return c, fmt.Errorf("delete rows of the key ranges: %w", err)
	}
	c.Deleted = tag.RowsAffected()
	cols := sqltext.IdentList("", s.ColumnNames())
	tag, err = b.Tx().Exec(ctx, `INSERT INTO `+dest+` (`+cols+`) SELECT `+cols+` FROM `+b.RowsTable()+` r`)
	if err != nil {
		return c, fmt.Errorf("insert rows of the key ranges: %w", err)
	}
	c.Inserted = tag.RowsAffected()
	return c, nil
}

// MergeRows merges the rows of staging table rows into the destination by
// key: a matched row whose image differs is updated, a missing row is
// inserted. rows holds the replicated columns and the destination columns
// named in extra (unquoted). It returns the rows updated and inserted. Each
// key may appear once in rows.
func MergeRows(ctx context.Context, tx pgx.Tx, s *TableSpec, rows string, extra []string) (updated, inserted int64, err error) {
	names := append(s.ColumnNames(), extra...)
	changed := `NOT pg_catalog.record_image_eq(ROW(` + sqltext.IdentList("d", names) + `), ROW(` + sqltext.IdentList("r", names) + `))`
	return MergeRowsIf(ctx, tx, s, rows, extra, changed)
}

// MergeRowsIf is MergeRows with the test of whether a matched row changed
// given as SQL over the destination row d and the staged row r.
func MergeRowsIf(ctx context.Context, tx pgx.Tx, s *TableSpec, rows string, extra []string, changed string) (updated, inserted int64, err error) {
	dest := s.Dest.Sanitize()
	names := append(s.ColumnNames(), extra...)
	var set string
	for i, n := range names {
		if i > 0 {
			set += ", "
		}
		q := replication.QuoteIdent(n)
		set += q + " = r." + q
	}
	before, err := tupleStats(ctx, tx, dest)
	if err != nil {
		return 0, 0, err
	}
	tag, err := tx.Exec(ctx, `MERGE INTO `+dest+` d USING `+rows+` r ON `+s.KeyMatch("d", "r")+
		` WHEN MATCHED AND `+changed+` THEN UPDATE SET `+set+
		` WHEN NOT MATCHED THEN INSERT (`+sqltext.IdentList("", names)+`) VALUES (`+sqltext.IdentList("r", names)+`)`)
	if err != nil {
		return 0, 0, fmt.Errorf("merge rows: %w", err)
	}
	after, err := tupleStats(ctx, tx, dest)
	if err != nil {
		return 0, 0, err
	}
	inserted = after[0] - before[0]
	if inserted > tag.RowsAffected() || inserted < 0 {
		inserted = 0 // statistics off (track_counts): count every row as updated
	}
	return tag.RowsAffected() - inserted, inserted, nil
}

// ReplaceRows deletes the destination rows of the keys in staging table
// rows and inserts rows (the replicated columns and the extra ones). It
// returns how many of them replaced a row (updated) and how many are new
// (inserted).
func ReplaceRows(ctx context.Context, tx pgx.Tx, s *TableSpec, rows string, extra []string) (updated, inserted int64, err error) {
	dest := s.Dest.Sanitize()
	tag, err := tx.Exec(ctx, `DELETE FROM `+dest+` d USING `+rows+` r WHERE `+s.KeyMatch("d", "r"))
	if err != nil {
		return 0, 0, fmt.Errorf("delete changed rows: %w", err)
	}
	replaced := tag.RowsAffected()
	cols := sqltext.IdentList("", append(s.ColumnNames(), extra...))
	tag, err = tx.Exec(ctx, `INSERT INTO `+dest+` (`+cols+`) SELECT `+cols+` FROM `+rows+` r`)
	if err != nil {
		return 0, 0, fmt.Errorf("insert changed rows: %w", err)
	}
	return replaced, tag.RowsAffected() - replaced, nil
}

// tupleStats returns the rows inserted and updated in table by the current
// transaction so far, from the statistics collector's transaction counters.
func tupleStats(ctx context.Context, tx pgx.Tx, table string) ([2]int64, error) {
	var st [2]int64
	err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_stat_get_xact_tuples_inserted(c), pg_catalog.pg_stat_get_xact_tuples_updated(c)
		FROM (SELECT $1::pg_catalog.regclass AS c) t`, table).Scan(&st[0], &st[1])
	if err != nil {
		return st, fmt.Errorf("read row counters of %s: %w", table, err)
	}
	return st, nil
}

// UniqueBeyondKey reports whether the destination has a unique index or
// exclusion constraint, checked per row, whose columns do not include the
// whole key: updating several rows in one statement could then collide
// with itself.
func UniqueBeyondKey(ctx context.Context, db replication.DB, s *TableSpec) (bool, error) {
	key := append([]string(nil), s.Key...)
	sort.Strings(key)
	var risky bool
	err := db.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_catalog.pg_index i
		WHERE i.indrelid = $1::pg_catalog.regclass AND (i.indisunique OR i.indisexclusion) AND i.indimmediate
		  AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL OR NOT (
		       ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)
		             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
		             WHERE k.o <= i.indnkeyatts) @> $2::text[])))`,
		s.Dest.Sanitize(), key).Scan(&risky)
	if err != nil {
		return false, fmt.Errorf("inspect unique indexes of %s: %w", s.Dest, err)
	}
	return risky, nil
}
