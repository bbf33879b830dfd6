package check

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/replication"
)

// csSide is one side of a checksum: a table read in the check's
// transaction, and the SQL that reads its keys and row hashes.
type csSide struct {
	table replication.Table
	// cond is the row condition as given (for errors); from is the text
	// after the table in FROM.
	cond string
	from string
	tx   pgx.Tx
	// cols are the compared columns, keys the key columns, in order.
	cols []replication.Column
	keys []replication.Column
	// control is the control column's type when the check is bounded by one.
	control *replication.Column
	// collate is true for key columns compared under COLLATE "C", so that
	// both sides order and bound text the same way whatever their
	// databases' collations.
	collate []bool
	// oid is the relation's; sampleable is true for relations TABLESAMPLE
	// can read.
	oid        uint32
	sampleable bool
	hash       ChecksumHash
	bounds     *ControlBounds
}

// csArgs collects the parameters of one statement.
type csArgs []any

// key adds a key value (as text) for key column i of s and returns the
// placeholder that casts it to the column's type.
func (a *csArgs) key(s *csSide, i int, v string) string {
	*a = append(*a, v)
	p := fmt.Sprintf("$%d::text::%s", len(*a), s.keys[i].Type)
	if s.collate[i] {
		p += ` COLLATE "C"`
	}
	return p
}

func (a *csArgs) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// keyList is "pgmimeo_k1, pgmimeo_k2, …", the key aliases of inner.
func (s *csSide) keyList() string {
	names := make([]string, len(s.keys))
	for i := range s.keys {
		names[i] = fmt.Sprintf("pgmimeo_k%d", i+1)
	}
	return strings.Join(names, ", ")
}

// keyText is the key as a text array, for reading bounds and row keys.
func (s *csSide) keyText() string {
	parts := make([]string, len(s.keys))
	for i := range s.keys {
		parts[i] = fmt.Sprintf("pgmimeo_k%d::text", i+1)
	}
	return "ARRAY[" + strings.Join(parts, ", ") + "]"
}

// nullKey is true for rows whose key has a NULL part.
func (s *csSide) nullKey() string {
	parts := make([]string, len(s.keys))
	for i := range s.keys {
		parts[i] = fmt.Sprintf("pgmimeo_k%d IS NULL", i+1)
	}
	return strings.Join(parts, " OR ")
}

// rowHash is the hash of a row's text: the compared columns as one record,
// qualified by the table's name so that a condition joining other tables
// cannot make them ambiguous.
func (s *csSide) rowHash() string {
	q := s.table.Sanitize()
	cols := make([]string, len(s.cols))
	for i, c := range s.cols {
		cols[i] = q + "." + replication.QuoteIdent(c.Name)
	}
	row := `ROW(` + strings.Join(cols, ", ") + `)::text COLLATE "C"`
	if s.hash == HashMD5 {
		return `('x' || left(md5(` + row + `), 16))::bit(64)::bigint`
	}
	return `hashtextextended(` + row + `, 0)`
}

// inner selects the key (as pgmimeo_k1…), the row hash (pgmimeo_h) and the
// control value (pgmimeo_c) of every row of the side's condition; with
// samplePct > 0 it reads a Bernoulli sample of that percentage.
func (s *csSide) inner(a *csArgs, samplePct float64) string {
	q := s.table.Sanitize()
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, k := range s.keys {
		b.WriteString(q + "." + replication.QuoteIdent(k.Name))
		if s.collate[i] {
			b.WriteString(` COLLATE "C"`)
		}
		fmt.Fprintf(&b, " AS pgmimeo_k%d, ", i+1)
	}
	b.WriteString(s.rowHash() + " AS pgmimeo_h")
	if s.control != nil {
		b.WriteString(", " + q + "." + replication.QuoteIdent(s.control.Name) + " AS pgmimeo_c")
	}
	b.WriteString(" FROM " + q)
	if samplePct > 0 {
		b.WriteString(" TABLESAMPLE BERNOULLI (" + a.add(samplePct) + "::float8)")
	}
	b.WriteString(s.from)
	return b.String()
}

// where is the WHERE clause that restricts inner's rows to key range r and
// the control bounds. Rows with a NULL key part are outside every range,
// unless r.nulls asks for them (the whole table, when the bucket query
// counts them apart).
func (s *csSide) where(a *csArgs, r *csRange) string {
	var preds []string
	if s.control != nil {
		preds = append(preds, s.bounds.predicates(a.add, s.control.Type)...)
	}
	if r.from == nil && r.to == nil && !r.nulls {
		preds = append(preds, "NOT ("+s.nullKey()+")")
	}
	if r.from != nil {
		preds = append(preds, "("+s.keyList()+") >= ("+s.values(a, r.from)+")")
	}
	if r.to != nil {
		preds = append(preds, "("+s.keyList()+") < ("+s.values(a, r.to)+")")
	}
	return whereAnd(preds)
}

func (s *csSide) values(a *csArgs, key []string) string {
	ps := make([]string, len(key))
	for i, v := range key {
		ps[i] = a.key(s, i, v)
	}
	return strings.Join(ps, ", ")
}

// countSQL counts the rows with a full key, and those with a NULL in it.
func (s *csSide) countSQL() (string, csArgs) {
	var a csArgs
	inner := s.inner(&a, 0)
	var bound string
	if s.control != nil {
		bound = whereAnd(s.bounds.predicates(a.add, s.control.Type))
	}
	return `SELECT count(*) FILTER (WHERE NOT (` + s.nullKey() + `)), count(*) FILTER (WHERE ` + s.nullKey() + `)
		FROM (` + inner + `) i` + bound, a
}

// boundariesSQL returns the keys that split range r into up to n parts of
// about equal row counts: the key of every row where the part number
// floor((row-1) * n / rows) goes up. With samplePct > 0 it reads a sample
// and counts the sampled rows; otherwise rows is the range's known count.
func (s *csSide) boundariesSQL(r *csRange, n int, rows int64, samplePct float64) (string, csArgs) {
	var a csArgs
	inner := s.inner(&a, samplePct)
	where := s.where(&a, r)
	total, count := "pgmimeo_n", ", count(*) OVER () AS pgmimeo_n"
	if samplePct == 0 {
		total, count = a.add(rows)+"::bigint", ""
	}
	parts := a.add(n) + "::bigint"
	return `SELECT ` + s.keyText() + ` FROM (
		SELECT ` + s.keyList() + `, row_number() OVER (ORDER BY ` + s.keyList() + `) AS pgmimeo_rn` + count + `
		FROM (` + inner + `) i` + where + `) w
		WHERE pgmimeo_rn > 1 AND (pgmimeo_rn - 1) * ` + parts + ` / ` + total + ` > (pgmimeo_rn - 2) * ` + parts + ` / ` + total + `
		ORDER BY pgmimeo_rn`, a
}

// bucketSQL counts and hashes the rows of range r in each of the parts
// that boundaries split it into: part i holds the keys below boundary i
// and not below boundary i-1. The part is found by a binary search written
// as nested CASEs, so each row costs log2(parts) key comparisons. With
// r.nulls, rows with a NULL key part are counted as part -1.
func (s *csSide) bucketSQL(r *csRange, boundaries [][]string) (string, csArgs) {
	var a csArgs
	inner := s.inner(&a, 0)
	where := s.where(&a, r)
	bounds := make([]string, len(boundaries))
	for i, k := range boundaries {
		bounds[i] = "(" + s.keyList() + ") < (" + s.values(&a, k) + ")"
	}
	part := s.search(bounds, 0, len(bounds))
	if r.nulls {
		part = "CASE WHEN " + s.nullKey() + " THEN -1 ELSE " + part + " END"
	}
	return `SELECT pgmimeo_b, count(*), sum(pgmimeo_h)::text FROM (
		SELECT ` + part + ` AS pgmimeo_b, pgmimeo_h FROM (` + inner + `) i` + where + `) s
		GROUP BY pgmimeo_b`, a
}

// search returns the expression that finds the part of a key among parts
// lo..hi, given below[i], the test "key < boundary i".
func (s *csSide) search(below []string, lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	mid := (lo + hi) / 2
	return "CASE WHEN " + below[mid] + " THEN " + s.search(below, lo, mid) + " ELSE " + s.search(below, mid+1, hi) + " END"
}

// rowsSQL lists the key and hash of every row of range r in key order.
func (s *csSide) rowsSQL(r *csRange) (string, csArgs) {
	var a csArgs
	inner := s.inner(&a, 0)
	where := s.where(&a, r)
	return `SELECT ` + s.keyText() + `, pgmimeo_h::text FROM (` + inner + `) i` + where + ` ORDER BY ` + s.keyList(), a
}
