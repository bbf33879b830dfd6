package check

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/replication"
)

// ColumnChange says how a column differs between source and destination.
type ColumnChange string

// Column changes.
const (
	// ColumnAdded: the source has a replicated column the destination lacks.
	ColumnAdded ColumnChange = "added"
	// ColumnRetyped: the column has another type (or type modifier) on the
	// destination.
	ColumnRetyped ColumnChange = "retyped"
	// ColumnDropped: the destination (or the job's column filter) has a
	// column the source no longer has.
	ColumnDropped ColumnChange = "dropped"
)

// ColumnDrift is one column whose source definition the destination does
// not follow.
type ColumnDrift struct {
	Source replication.Table
	Dest   replication.Table
	Column string
	Change ColumnChange
	// SourceType and DestType are the types as SQL writes them
	// (format_type); "" on the side that lacks the column.
	SourceType string
	DestType   string
}

// String describes the drift in one line.
func (d ColumnDrift) String() string {
	switch d.Change {
	case ColumnAdded:
		return fmt.Sprintf("%s: column %s %s added on source %s", d.Dest, replication.QuoteIdent(d.Column), d.SourceType, d.Source)
	case ColumnRetyped:
		return fmt.Sprintf("%s: column %s is %s on source %s but %s here", d.Dest, replication.QuoteIdent(d.Column), d.SourceType, d.Source, d.DestType)
	default:
		return fmt.Sprintf("%s: column %s dropped on source %s", d.Dest, replication.QuoteIdent(d.Column), d.Source)
	}
}

// DriftOptions say which columns SourceColumnDrift compares. The zero value
// compares every column.
type DriftOptions struct {
	// Columns is the job's column filter: only these source columns are
	// expected on the destination. Default: every source column.
	Columns []string
	// IgnoreDest names destination columns that the job adds itself (such
	// as LogDelDeletedColumn) and that the source is not expected to have.
	// Default: none.
	IgnoreDest []string
}

// driftColumn is a column with the identity of its type: schema, name and
// modifier, compared across databases where type OIDs of user types differ.
type driftColumn struct {
	name, typ, typSchema, typName string
	typMod                        int32
}

const driftColumnsSQL = `
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), n.nspname, t.typname, a.atttypmod
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

func driftColumns(ctx context.Context, db replication.DB, t replication.Table) ([]driftColumn, error) {
	info, err := replication.Describe(ctx, db, t)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, driftColumnsSQL, info.OID)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (driftColumn, error) {
		var c driftColumn
		err := r.Scan(&c.name, &c.typ, &c.typSchema, &c.typName, &c.typMod)
		return c, err
	})
}

// SourceColumnDrift lists the columns of source table source (on src) that
// destination table or view dest (on dest) does not follow: replicated
// source columns missing on the destination or of another type there (as
// mimeo's check_source_columns), and, beyond mimeo, destination columns
// (and filter columns) the source no longer has. Types are compared by
// schema, name and modifier, so varchar(42) and varchar(43) differ. The
// result is in source column order, dropped columns last; nil when the
// destination follows the source.
func SourceColumnDrift(ctx context.Context, src, dest replication.DB, source, destTable replication.Table, opts *DriftOptions) ([]ColumnDrift, error) {
	var o DriftOptions
	if opts != nil {
		o = *opts
	}
	srcCols, err := driftColumns(ctx, src, source)
	if err != nil {
		return nil, err
	}
	dstCols, err := driftColumns(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	srcBy := make(map[string]driftColumn, len(srcCols))
	for _, c := range srcCols {
		srcBy[c.name] = c
	}
	dstBy := make(map[string]driftColumn, len(dstCols))
	for _, c := range dstCols {
		dstBy[c.name] = c
	}
	want := make(map[string]bool, len(o.Columns))
	for _, c := range o.Columns {
		want[c] = true
	}
	ignore := make(map[string]bool, len(o.IgnoreDest))
	for _, c := range o.IgnoreDest {
		ignore[c] = true
	}

	var out []ColumnDrift
	add := func(name string, ch ColumnChange, s, d string) {
		out = append(out, ColumnDrift{Source: source, Dest: destTable, Column: name, Change: ch, SourceType: s, DestType: d})
	}
	for _, s := range srcCols {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		d, ok := dstBy[s.name]
		switch {
		case !ok:
			add(s.name, ColumnAdded, s.typ, "")
		case d.typSchema != s.typSchema || d.typName != s.typName || d.typMod != s.typMod:
			add(s.name, ColumnRetyped, s.typ, d.typ)
		}
	}
	dropped := make(map[string]bool)
	for _, d := range dstCols {
		if _, ok := srcBy[d.name]; !ok && !ignore[d.name] {
			add(d.name, ColumnDropped, "", d.typ)
			dropped[d.name] = true
		}
	}
	for _, name := range o.Columns {
		if _, ok := srcBy[name]; !ok && !dropped[name] && !ignore[name] {
			add(name, ColumnDropped, "", "")
			dropped[name] = true
		}
	}
	return out, nil
}

// CheckSourceColumns runs SourceColumnDrift for every job of source
// sourceName ("" means DefaultSourceName) in catalog cat on dest, with each
// job's column filter (see Job.Settings) and, for LogDeletes jobs, their
// LogDelDeletedColumn ignored. src must be that source. A job whose source
// or destination table cannot be read does not stop the others: its error
// is joined into the returned error and the drift found elsewhere is still
// returned, ordered by destination.
func CheckSourceColumns(ctx context.Context, src, dest replication.DB, cat *replication.Catalog, sourceName string) ([]ColumnDrift, error) {
	jobs, err := sourceJobs(ctx, dest, cat, sourceName)
	if err != nil {
		return nil, err
	}
	var out []ColumnDrift
	var errs []error
	for _, j := range jobs {
		set, err := j.Settings()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := &DriftOptions{Columns: set.Columns}
		if j.Kind == replication.KindLogDel {
			o.IgnoreDest = []string{LogDelDeletedColumn}
		}
		d, err := SourceColumnDrift(ctx, src, dest, j.SourceTable, j.Dest, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Dest, err))
			continue
		}
		out = append(out, d...)
	}
	return out, errors.Join(errs...)
}

// sourceJobs returns the catalog's jobs of source name, ordered by
// destination.
func sourceJobs(ctx context.Context, dest replication.DB, cat *replication.Catalog, name string) ([]*replication.Job, error) {
	if name == "" {
		name = replication.DefaultSourceName
	}
	jobs, err := cat.Jobs(ctx, dest, &replication.JobFilter{Source: name})
	if err != nil {
		return nil, fmt.Errorf("jobs of source %q in catalog %s: %w", name, replication.QuoteIdent(cat.Schema()), err)
	}
	return jobs, nil
}
