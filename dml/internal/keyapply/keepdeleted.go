package keyapply

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// KeepDeleted is the LogDeletes variant: deleted rows stay on the destination,
// stamped in DeletedAtColumn.
var KeepDeleted Variant = keepDeleted{}

type keepDeleted struct{}

func (keepDeleted) Kind() replication.Kind { return replication.KindLogDel }
func (keepDeleted) Label() string          { return "Logdel" }
func (keepDeleted) KeepsDeleted() bool     { return true }

func (keepDeleted) ExtraColumns() []ExtraColumn {
	return []ExtraColumn{{Name: DeletedAtColumn, Type: "timestamptz"}}
}

var deletedCol = replication.QuoteIdent(DeletedAtColumn)

// AdaptIndex makes a unique source index unique among live rows only: a
// deleted row kept on the destination may share values with a live one.
// The key's own index is made by dml and stays unique over all rows, since
// a key has at most one row, live or deleted.
func (keepDeleted) AdaptIndex(ix replication.Index, dest string) string {
	if !ix.Unique || ix.Primary {
		return IndexSQL(ix, dest)
	}
	body, pred := splitPredicate(ix.Body)
	where := " WHERE " + deletedCol + " IS NULL"
	if pred != "" {
		where = " WHERE (" + pred + ") AND " + deletedCol + " IS NULL"
	}
	return "CREATE UNIQUE INDEX ON " + dest + " " + body + where
}

// splitPredicate splits an index body ("USING … [WHERE …]", as
// pg_get_indexdef writes it) at the WHERE of its predicate: the first
// " WHERE " outside quotes and parentheses.
func splitPredicate(body string) (string, string) {
	depth := 0
	var quote byte
	for i := 0; i < len(body); i++ {
		ch := body[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && strings.HasPrefix(body[i:], " WHERE "):
			return body[:i], body[i+len(" WHERE "):]
		}
	}
	return body, ""
}

// FinishDest adds nothing. Unlike mimeo, no index is made on DeletedAtColumn:
// replaying a deletion sets that column, and with an index on it every
// such update would have to add an entry to every index of the table
// instead of being a HOT update. Create one if you query by deletion time.
func (keepDeleted) FinishDest(context.Context, pgx.Tx, *TableSpec) error { return nil }

// Apply makes the destination match the batch, keeping deleted rows:
//
//   - a key with a current row gets that row, live (a re-used key replaces
//     the row kept for its deletion);
//   - a key without a current row but with a deletion in the batch gets the
//     row's last values, stamped with the deletion time (the batch holds
//     one or the other, never both);
//   - a key with neither (its key was updated away, or it no longer matches
//     the condition) loses its live row; a row already marked deleted stays.
func (keepDeleted) Apply(ctx context.Context, b *Batch) (Counts, error) {
	s := b.Spec()
	tx := b.Tx()
	dest := s.Dest.Sanitize()
	var c Counts
	tag, err := tx.Exec(ctx, `DELETE FROM `+dest+` d USING `+b.AbsentTable()+` k WHERE `+s.KeyMatch("d", "k")+
		` AND d.`+deletedCol+` IS NULL`)
	if err != nil {
		return c, fmt.Errorf("delete removed keys: %w", err)
	}
	c.Deleted = tag.RowsAffected()
	deleted := b.DeletedTable()
	live := `(SELECT ` + sqltext.IdentList("", s.ColumnNames()) + `, NULL::timestamptz AS ` + deletedCol + ` FROM ` + b.RowsTable() + ` r)`
	extra := []string{DeletedAtColumn}
	risky, err := UniqueBeyondKey(ctx, tx, s)
	if err != nil {
		return c, err
	}
	apply := MergeRows
	// A kept row with the same deletion time is that deletion's image
	// already: comparing times is enough.
	applyDeleted := func(ctx context.Context, tx pgx.Tx, s *TableSpec, rows string, extra []string) (int64, int64, error) {
		return MergeRowsIf(ctx, tx, s, rows, extra, `d.`+deletedCol+` IS DISTINCT FROM r.`+deletedCol)
	}
	if risky {
		apply, applyDeleted = ReplaceRows, ReplaceRows
	}
	u, i, err := applyDeleted(ctx, tx, s, deleted, extra)
	if err != nil {
		return c, fmt.Errorf("keep deleted rows: %w", err)
	}
	c.Deleted += u + i
	if c.Updated, c.Inserted, err = apply(ctx, tx, s, live, extra); err != nil {
		return c, err
	}
	return c, nil
}

// Reload replaces the live rows with every source row and keeps the rows
// marked deleted whose key is not live again; deletions still queued in the
// batch are kept too, replacing older marks of the same key.
func (keepDeleted) Reload(ctx context.Context, b *Batch, load func(ctx context.Context, freeze bool) (int64, error)) (Counts, error) {
	s := b.Spec()
	tx := b.Tx()
	dest := s.Dest.Sanitize()
	cols := sqltext.IdentList("", s.ColumnNames()) + ", " + deletedCol
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE mimeo_kept ON COMMIT DROP AS SELECT `+cols+` FROM `+dest+
		` WHERE `+deletedCol+` IS NOT NULL`); err != nil {
		return Counts{}, fmt.Errorf("keep deleted rows: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE `+dest); err != nil {
		return Counts{}, fmt.Errorf("truncate %s: %w", s.Dest, err)
	}
	n, err := load(ctx, true)
	if err != nil {
		return Counts{}, err
	}
	keys := sqltext.IdentList("", s.Key)
	tag, err := tx.Exec(ctx, `INSERT INTO `+dest+` (`+cols+`) SELECT `+sqltext.IdentList("x", append(s.ColumnNames(), DeletedAtColumn))+
		` FROM (SELECT DISTINCT ON (`+keys+`) `+cols+` FROM (SELECT `+cols+` FROM pg_temp.mimeo_kept UNION ALL SELECT `+cols+
		` FROM `+b.DeletedTable()+` x2) u ORDER BY `+keys+`, `+deletedCol+` DESC) x`+
		` WHERE NOT EXISTS (SELECT 1 FROM `+dest+` d WHERE `+s.KeyMatch("d", "x")+`)`)
	if err != nil {
		return Counts{}, fmt.Errorf("restore deleted rows: %w", err)
	}
	return Counts{Inserted: n, Deleted: tag.RowsAffected()}, nil
}

// Repair replaces the live destination rows of the ranges by the source's
// rows of the ranges and keeps the rows marked deleted, except those whose
// key is live on the source again: the live row replaces the mark, as when
// a key is re-used.
func (keepDeleted) Repair(ctx context.Context, b *Batch, inRanges string) (Counts, error) {
	return ReplaceRanges(ctx, b, inRanges, `d.`+deletedCol+` IS NOT NULL`)
}
