package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what introspection needs: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Execer runs statements: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Relation is a table-like object.
type Relation struct {
	OID uint32
	// Kind is pg_class.relkind: 'r' table, 'p' partitioned table, 'v' view,
	// 'm' materialized view, 'f' foreign table.
	Kind byte
}

// ErrNotFound reports that a relation is absent or not visible.
var ErrNotFound = errors.New("relation not found")

const relationSQL = `
SELECT c.oid, c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')`

// LookupRelation finds schema.name; ErrNotFound when absent.
func LookupRelation(ctx context.Context, q Querier, schema, name string) (Relation, error) {
	var r Relation
	var kind string
	err := q.QueryRow(ctx, relationSQL, schema, name).Scan(&r.OID, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Kind = kind[0]
	return r, nil
}

// ColumnFields is the shape of Column, so that a type defined with the
// same fields elsewhere (replication.Column) converts to and from it, and
// generic code takes either (see copypipe.CanBinary).
type ColumnFields = struct {
	Name string
	// Type is the type as SQL would write it (format_type), with modifiers.
	Type string
	// TypeOID is the column type's OID.
	TypeOID uint32
	// NotNull is true for NOT NULL columns.
	NotNull bool
	// Builtin is true when the type, and for arrays its element type, is a
	// built-in type, whose binary COPY form is the same in every database.
	Builtin bool
	// Num is the attribute number.
	Num int16
}

// Column is one column of a table.
type Column ColumnFields

const columnsSQL = `
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid, a.attnotnull,
       a.atttypid < 16384 AND (t.typelem = 0 OR t.typelem < 16384) AND t.typtype IN ('b','p') , a.attnum
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// Columns returns the relation's columns in order.
func Columns(ctx context.Context, q Querier, rel uint32) ([]Column, error) {
	rows, err := q.Query(ctx, columnsSQL, rel)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type, &c.TypeOID, &c.NotNull, &c.Builtin, &c.Num)
		return c, err
	})
}

// Key is the set of columns that identifies a row.
type Key struct {
	// Columns are in key order.
	Columns []string
	// Index is the name of the primary key or unique index.
	Index string
	// Primary is true for a primary key.
	Primary bool
}

// keySQL lists the primary key first, then unique indexes that can stand in
// for one: valid, immediate, not partial, on plain columns only, all NOT
// NULL; alphabetically by index name.
const keySQL = `
SELECT i.indisprimary, ic.relname,
       array_agg(a.attname ORDER BY k.ord) AS cols,
       bool_and(a.attnotnull) AS notnull,
       bool_or(k.attnum = 0) AS has_expr
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisunique)
  AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
  AND k.ord <= i.indnkeyatts
GROUP BY i.indisprimary, ic.relname
ORDER BY i.indisprimary DESC, ic.relname`

// FindKey returns the primary key, else the alphabetically first unique
// index whose columns are all NOT NULL plain columns; nil when there is none.
func FindKey(ctx context.Context, q Querier, rel uint32) (*Key, error) {
	rows, err := q.Query(ctx, keySQL, rel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k Key
		var notNull, hasExpr *bool
		if err := rows.Scan(&k.Primary, &k.Index, &k.Columns, &notNull, &hasExpr); err != nil {
			return nil, err
		}
		if hasExpr != nil && *hasExpr || notNull == nil || !*notNull {
			continue
		}
		rows.Close()
		return &k, nil
	}
	return nil, rows.Err()
}

// Index is one index of a relation.
type Index struct {
	Name string
	// Def is CREATE INDEX text as pg_get_indexdef gives it.
	Def string
	// Body is Def from "USING" on: method, columns with their operator
	// classes and order, INCLUDE, storage parameters and predicate, so that
	// the same index can be made on another table as
	// "CREATE [UNIQUE] INDEX ON other " + Body.
	Body string
	// Primary and Unique describe the index; Constraint is the name of the
	// constraint it backs, if any.
	Primary    bool
	Unique     bool
	Constraint string
}

const indexesSQL = `
SELECT ic.relname, d.def,
       substr(d.def, length(
         'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' ||
         quote_ident(ic.relname) || ' ON ' || CASE WHEN c.relkind = 'p' THEN 'ONLY ' ELSE '' END ||
         quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ') + 1),
       i.indisprimary, i.indisunique, COALESCE(con.conname, '')
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_catalog.pg_get_indexdef(i.indexrelid) AS d(def)
LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p','u','x')
WHERE i.indrelid = $1
ORDER BY i.indisprimary DESC, ic.relname`

// Indexes returns the relation's indexes, the primary key first.
func Indexes(ctx context.Context, q Querier, rel uint32) ([]Index, error) {
	rows, err := q.Query(ctx, indexesSQL, rel)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Index, error) {
		var ix Index
		err := r.Scan(&ix.Name, &ix.Def, &ix.Body, &ix.Primary, &ix.Unique, &ix.Constraint)
		if err == nil && !strings.HasPrefix(ix.Body, "USING ") {
			err = fmt.Errorf("index %s: unexpected definition %q", ix.Name, ix.Def)
		}
		return ix, err
	})
}
