package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/internal/catalog"
)

// Querier reads: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Column is one column of a table, as the database's catalog describes it.
type Column struct {
	// Name is the column's name, unquoted.
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

// Index is one index of a table, as the database's catalog describes it.
type Index struct {
	// Name is the index's name, unquoted.
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

// Key is the key a table's rows are identified by.
type Key struct {
	// Columns are in key order.
	Columns []string
	// Index is the name of the primary key or unique index.
	Index string
	// Primary is true for a primary key.
	Primary bool
}

// RelKind is the kind of a relation.
type RelKind string

// Relation kinds.
const (
	KindTable       RelKind = "table"
	KindPartitioned RelKind = "partitioned table"
	KindView        RelKind = "view"
	KindMatView     RelKind = "materialized view"
	KindForeign     RelKind = "foreign table"
)

// TableInfo describes a table or view: its kind, columns in order, and key.
type TableInfo struct {
	Table Table
	OID   uint32
	Kind  RelKind
	// Columns are in attribute order.
	Columns []Column
	// Key is the primary key, else the alphabetically first unique index on
	// NOT NULL plain columns; nil when there is none (always for views).
	Key *Key
}

// Describe reads the catalog of the database behind db for table t. It
// returns a *TableError wrapping ErrTableNotFound when t does not exist or
// is not visible to the connecting role.
func Describe(ctx context.Context, db Querier, t Table) (*TableInfo, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	rel, err := catalog.LookupRelation(ctx, db, t.Schema, t.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, &TableError{Table: t, Err: ErrTableNotFound,
			Fix: "check the schema and name (they are case-sensitive) and that the role can see the schema"}
	}
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", t, err)
	}
	info := &TableInfo{Table: t, OID: rel.OID}
	switch rel.Kind {
	case 'r':
		info.Kind = KindTable
	case 'p':
		info.Kind = KindPartitioned
	case 'v':
		info.Kind = KindView
	case 'm':
		info.Kind = KindMatView
	case 'f':
		info.Kind = KindForeign
	}
	cols, err := catalog.Columns(ctx, db, rel.OID)
	if err != nil {
		return nil, fmt.Errorf("describe %s: columns: %w", t, err)
	}
	info.Columns = make([]Column, len(cols))
	for i, c := range cols {
		info.Columns[i] = Column(c)
	}
	if info.Kind != KindView {
		k, err := catalog.FindKey(ctx, db, rel.OID)
		if err != nil {
			return nil, fmt.Errorf("describe %s: key: %w", t, err)
		}
		if k != nil {
			info.Key = &Key{Columns: k.Columns, Index: k.Index, Primary: k.Primary}
		}
	}
	return info, nil
}

// IsView reports whether the relation is a view (no key, no statistics).
func (ti *TableInfo) IsView() bool { return ti.Kind == KindView }

// KeyColumns returns the key's columns in key order, or a *TableError
// wrapping ErrNoKey naming the table.
func (ti *TableInfo) KeyColumns() ([]string, error) {
	if ti.Key == nil {
		fix := "add a primary key, or a unique index on NOT NULL columns, or give the key columns explicitly"
		return nil, &TableError{Table: ti.Table, Err: ErrNoKey, Fix: fix}
	}
	return ti.Key.Columns, nil
}

// Column returns the named column.
func (ti *TableInfo) Column(name string) (Column, bool) {
	for _, c := range ti.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Select returns the columns named by filter, in the table's column order;
// all columns when filter is empty. A name not in the table is a
// *ColumnError wrapping ErrColumnNotFound; so is a repeated name.
func (ti *TableInfo) Select(filter []string) ([]Column, error) {
	if len(filter) == 0 {
		return ti.Columns, nil
	}
	want := make(map[string]bool, len(filter))
	for _, name := range filter {
		if want[name] {
			return nil, &ColumnError{Table: ti.Table, Column: name, Err: ErrBadOption, Fix: "name each column once in the filter"}
		}
		if _, ok := ti.Column(name); !ok {
			return nil, &ColumnError{Table: ti.Table, Column: name, Err: ErrColumnNotFound,
				Fix: "remove it from the column filter or check its spelling (names are case-sensitive)"}
		}
		want[name] = true
	}
	var out []Column
	for _, c := range ti.Columns {
		if want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Indexes returns the table's indexes, primary key first.
func (ti *TableInfo) Indexes(ctx context.Context, db Querier) ([]Index, error) {
	ix, err := catalog.Indexes(ctx, db, ti.OID)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", ti.Table, err)
	}
	out := make([]Index, len(ix))
	for i, x := range ix {
		out[i] = Index(x)
	}
	return out, nil
}

// RequireColumns checks that every name in required is among cols, else a
// *ColumnError wrapping ErrFilterDropsKey that says why it is required.
func RequireColumns(t Table, cols []Column, required []string, why string) error {
	for _, r := range required {
		found := false
		for _, c := range cols {
			if c.Name == r {
				found = true
				break
			}
		}
		if !found {
			return &ColumnError{Table: t, Column: r, Err: ErrFilterDropsKey,
				Fix: fmt.Sprintf("add it to the column filter: it is the %s", why)}
		}
	}
	return nil
}
