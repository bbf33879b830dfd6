package keyapply

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TableSpec is the shape of one replicated table, shared by capture, fetch
// and apply: which source table feeds which destination table, which
// columns are replicated and which of them form the key.
type TableSpec struct {
	// Source and Dest are the two tables.
	Source replication.Table
	Dest   replication.Table
	// Columns are the replicated columns as the source describes them, in
	// source column order.
	Columns []replication.Column
	// DestColumns are the same columns as the destination describes them
	// (same names, same order). Empty before the destination exists.
	DestColumns []replication.Column
	// Key are the key columns, in key order; each is among Columns.
	Key []string
	// Condition is the row condition in mimeo's form (see
	// replication.Options.Condition); empty for every row.
	Condition string

	// Sizes, read when a job is opened, choose between key Lookups and
	// joins; zero values choose joins.
	Sizes TableSizes
}

// TableSizes are planner estimates of both tables.
type TableSizes struct {
	// KeyIndexed: a btree index on the source leads with the key columns.
	KeyIndexed bool
	// SourceRows and DestRows are pg_class.reltuples (-1: never analyzed).
	SourceRows, DestRows float64
}

// lookupFraction: a batch of at most this fraction of a table's rows is
// applied (fetched) by index Lookups in a nested loop rather than a join
// that reads the whole table.
const lookupFraction = 0.25

// Lookups reports whether n keys are best fetched from the source by index
// Lookups.
func (s *TableSpec) Lookups(n int64) bool {
	return s.Sizes.KeyIndexed && (s.Sizes.SourceRows < 0 || float64(n) <= lookupFraction*s.Sizes.SourceRows)
}

// DestLookups reports whether n keys are best applied to the destination by
// index Lookups.
func (s *TableSpec) DestLookups(n int64) bool {
	return s.Sizes.DestRows < 0 || float64(n) <= lookupFraction*s.Sizes.DestRows
}

// ColumnNames returns the replicated column names in order.
func (s *TableSpec) ColumnNames() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// IsKey reports whether column name is a key column.
func (s *TableSpec) IsKey(name string) bool {
	for _, k := range s.Key {
		if k == name {
			return true
		}
	}
	return false
}

// KeyColumns returns the source description of the key columns, in key
// order.
func (s *TableSpec) KeyColumns() []replication.Column {
	out := make([]replication.Column, 0, len(s.Key))
	for _, k := range s.Key {
		for _, c := range s.Columns {
			if c.Name == k {
				out = append(out, c)
			}
		}
	}
	return out
}

// BinaryRows reports whether rows can travel in binary COPY form.
func (s *TableSpec) BinaryRows() bool { return copypipe.CanBinary(s.Columns, s.DestColumns) }

// KeyMatch returns "a.k1 = b.k1 AND a.k2 = b.k2" for the key columns and
// the two (already quoted) qualifiers.
func (s *TableSpec) KeyMatch(a, b string) string {
	var sb strings.Builder
	for i, k := range s.Key {
		if i > 0 {
			sb.WriteString(" AND ")
		}
		q := replication.QuoteIdent(k)
		sb.WriteString(a + "." + q + " = " + b + "." + q)
	}
	return sb.String()
}

// ConditionSQL is the condition as text to append after the FROM item.
func (s *TableSpec) ConditionSQL() string {
	c, err := replication.NormalizeCondition(s.Source, s.Condition)
	if err != nil {
		// Unreachable: a spec's condition is checked when it is made
		// (CheckCondition); the text is never used unchecked.
		panic(err)
	}
	return c
}

// CheckCondition refuses a condition that is not one closed piece of SQL
// (see replication.NormalizeCondition); every spec is checked when made.
func (s *TableSpec) CheckCondition() error {
	_, err := replication.NormalizeCondition(s.Source, s.Condition)
	return err
}

// ReadSizes reads the planner's row estimates of both tables and whether a
// source index leads with the key.
func ReadSizes(ctx context.Context, src, dest replication.DB, s *TableSpec) (TableSizes, error) {
	var z TableSizes
	key := append([]string(nil), s.Key...)
	sort.Strings(key)
	err := src.QueryRow(ctx, `SELECT c.reltuples::float8, EXISTS (
		SELECT 1 FROM pg_catalog.pg_index i
		JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_catalog.pg_am am ON am.oid = ic.relam
		WHERE i.indrelid = c.oid AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL
		  AND ARRAY(SELECT a.attname::text FROM unnest((i.indkey::int2[])[0:$3 - 1]) AS k(n)
		            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY 1) = $2::text[])
		FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.regclass`,
		s.Source.Sanitize(), key, len(key)).Scan(&z.SourceRows, &z.KeyIndexed)
	if err != nil {
		return z, fmt.Errorf("read size of %s: %w", s.Source, err)
	}
	if err := dest.QueryRow(ctx, `SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = $1::pg_catalog.regclass`,
		s.Dest.Sanitize()).Scan(&z.DestRows); err != nil {
		return z, fmt.Errorf("read size of %s: %w", s.Dest, err)
	}
	return z, nil
}
