package rangecopy

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

// Key is one key column.
type Key struct {
	Name string
	// Type is the column's SQL type (format_type), the same on both sides.
	Type string
	// Collate is true for types with a collation, compared under "C".
	Collate bool
}

// Range is one key range: From inclusive, To exclusive, nil unbounded.
// NullKey is the range of the rows whose key has a NULL part, which no
// bounded range holds.
type Range struct {
	From, To []string
	NullKey  bool
}

// Bounded is a key range as a checksum validation reports it
// (check.KeyRange).
type Bounded interface {
	Bounds() (from, to []string, nullKey bool)
}

// FromKeyRanges returns the ranges a checksum validation found to differ
// (check.ChecksumResult.Ranges) as ranges to re-pull.
func FromKeyRanges[R Bounded](rs []R) []Range {
	out := make([]Range, len(rs))
	for i, r := range rs {
		from, to, null := r.Bounds()
		out[i] = Range{From: from, To: to, NullKey: null}
	}
	return out
}

// Spec says what a range is re-pulled from and into.
type Spec struct {
	// Source is the source table, quoted (Table.Sanitize).
	Source string
	// From is the text after the source table in FROM: "" or " WHERE …",
	// or " , other … WHERE …" (a normalised row condition).
	From string
	// SourceFilter, when set, is a further boolean expression on the
	// replicated columns (unqualified, quoted) that source rows must meet.
	SourceFilter string
	// Target is the destination table rows are deleted from and copied
	// into, quoted.
	Target string
	// Columns are the replicated columns, unquoted, named alike on both
	// sides; Key are the key columns, which are among them.
	Columns []string
	Key     []Key
	// Binary copies in binary (see copypipe.CanBinary); else text.
	Binary bool
}

// Stats is what a re-pull did.
type Stats struct {
	Deleted, Inserted, Bytes int64
}

// Apply re-pulls ranges: on dst it deletes the rows of each range from
// spec.Target, then copies the source's rows of the range in, reading
// through src (whose transaction, if any, gives one snapshot for all).
// Nothing is committed: the caller commits dst.
func Apply(ctx context.Context, src *pgconn.PgConn, dst pgx.Tx, spec Spec, ranges []Range) (Stats, error) {
	var st Stats
	if len(spec.Key) == 0 {
		return st, fmt.Errorf("re-pull key ranges of %s: no key columns", spec.Target)
	}
	for _, r := range ranges {
		tag, err := dst.Exec(ctx, "DELETE FROM "+spec.Target+" WHERE "+spec.TargetCondition(r, ""))
		if err != nil {
			return st, fmt.Errorf("delete key range %s of %s: %w", describe(r), spec.Target, err)
		}
		st.Deleted += tag.RowsAffected()
		cs, err := copypipe.Copy(ctx, src, dst.Conn().PgConn(), copypipe.Spec{
			Query: spec.SourceQuery(r), Dest: spec.Target, Columns: spec.Columns, Binary: spec.Binary,
		})
		st.Bytes += cs.Bytes
		if err != nil {
			return st, fmt.Errorf("copy key range %s into %s: %w", describe(r), spec.Target, err)
		}
		st.Inserted += cs.Rows
	}
	return st, nil
}

// SourceQuery selects the replicated columns of the source rows in range r
// that meet the row condition (From) and SourceFilter.
func (s Spec) SourceQuery(r Range) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sqltext.Ident(c))
	}
	b.WriteString(" FROM (SELECT ")
	for _, c := range s.Columns {
		b.WriteString(s.Source + "." + sqltext.Ident(c) + " AS " + sqltext.Ident(c) + ", ")
	}
	for i, k := range s.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.Source + "." + sqltext.Ident(k.Name) + collate(k) + fmt.Sprintf(" AS pgmimeo_k%d", i+1))
	}
	b.WriteString(" FROM " + s.Source + s.From + ") pgmimeo_r WHERE ")
	b.WriteString(s.rangeSQL(r, func(i int) string { return fmt.Sprintf("pgmimeo_k%d", i+1) }))
	if s.SourceFilter != "" {
		b.WriteString(" AND (" + s.SourceFilter + ")")
	}
	return b.String()
}

// TargetCondition is the condition "the target row's key is in r", with
// the key columns qualified by qualifier (a quoted alias of the target, or
// "" for none) and compared under "C" when collatable.
func (s Spec) TargetCondition(r Range, qualifier string) string {
	if qualifier != "" {
		qualifier += "."
	}
	return s.rangeSQL(r, func(i int) string { return qualifier + sqltext.Ident(s.Key[i].Name) + collate(s.Key[i]) })
}

// rangeSQL is the condition "the key is in r", with key column i written
// as col(i).
func (s Spec) rangeSQL(r Range, col func(int) string) string {
	cols := make([]string, len(s.Key))
	nulls := make([]string, len(s.Key))
	for i := range s.Key {
		cols[i] = col(i)
		nulls[i] = cols[i] + " IS NULL"
	}
	anyNull := "(" + strings.Join(nulls, " OR ") + ")"
	if r.NullKey {
		return anyNull
	}
	var preds []string
	row := "(" + strings.Join(cols, ", ") + ")"
	if r.From != nil {
		preds = append(preds, row+" >= "+s.values(r.From))
	}
	if r.To != nil {
		preds = append(preds, row+" < "+s.values(r.To))
	}
	if len(preds) == 0 {
		return "NOT " + anyNull
	}
	return strings.Join(preds, " AND ")
}

// values writes key values as a row of typed literals.
func (s Spec) values(key []string) string {
	vs := make([]string, len(key))
	for i, v := range key {
		vs[i] = sqltext.Literal(v) + "::text::" + s.Key[i].Type + collate(s.Key[i])
	}
	return "(" + strings.Join(vs, ", ") + ")"
}

func collate(k Key) string {
	if k.Collate {
		return ` COLLATE "C"`
	}
	return ""
}

func describe(r Range) string {
	switch {
	case r.NullKey:
		return "(key with NULL)"
	case r.From == nil && r.To == nil:
		return "(every key)"
	}
	b := func(k []string) string {
		if k == nil {
			return "unbounded"
		}
		return "(" + strings.Join(k, ", ") + ")"
	}
	return "[" + b(r.From) + ", " + b(r.To) + ")"
}

// Keys returns the key columns named, as cols (the replicated columns)
// describe them, with whether each type has a collation (read through q).
func Keys[C ~catalog.ColumnFields](ctx context.Context, q catalog.Querier, cols []C, names []string) ([]Key, error) {
	out := make([]Key, 0, len(names))
	for _, n := range names {
		var found *catalog.Column
		for i := range cols {
			if c := catalog.Column(cols[i]); c.Name == n {
				found = &c
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("key column %s is not replicated", sqltext.Ident(n))
		}
		var coll bool
		if err := q.QueryRow(ctx, `SELECT typcollation <> 0 FROM pg_catalog.pg_type WHERE oid = $1`, found.TypeOID).Scan(&coll); err != nil {
			return nil, fmt.Errorf("read collation of type %s: %w", found.Type, err)
		}
		out = append(out, Key{Name: n, Type: found.Type, Collate: coll})
	}
	return out, nil
}
