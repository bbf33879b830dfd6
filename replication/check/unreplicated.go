package check

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/replication"
)

// UnreplicatedOptions say which source relations UnreplicatedTables
// considers. The zero value considers every table outside the system
// schemas, as mimeo's check_missing_source_tables does.
type UnreplicatedOptions struct {
	// Views adds views and materialized views. Default false: tables only.
	Views bool
	// Partitions adds the partitions of partitioned tables, which are
	// otherwise taken as replicated through their parent. Default false.
	Partitions bool
	// ExcludeSchemas names source schemas not to report, such as the schema
	// that holds DML queues. pg_catalog, information_schema and the toast
	// and temporary schemas are always left out. Default: none more.
	ExcludeSchemas []string
}

// SourceRelation is a table or view on a source.
type SourceRelation struct {
	Table replication.Table
	Kind  replication.RelKind
}

const sourceRelationsSQL = `
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind::text = ANY ($1::text[])
  AND n.nspname <> ALL ($2::text[])
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND ($3 OR NOT c.relispartition)
ORDER BY n.nspname, c.relname`

// UnreplicatedTables lists the tables (and with opts.Views the views) of
// the source on src that no job of source sourceName ("" means
// DefaultSourceName) in catalog cat on dest replicates, ordered by schema
// and name. It answers "which new tables appeared on the source?" for
// setups where every source table should be replicated.
func UnreplicatedTables(ctx context.Context, src, dest replication.DB, cat *replication.Catalog, sourceName string, opts *UnreplicatedOptions) ([]SourceRelation, error) {
	var o UnreplicatedOptions
	if opts != nil {
		o = *opts
	}
	jobs, err := sourceJobs(ctx, dest, cat, sourceName)
	if err != nil {
		return nil, err
	}
	replicated := make(map[replication.Table]bool, len(jobs))
	for _, j := range jobs {
		replicated[j.SourceTable] = true
	}
	kinds := []string{"r", "p"}
	if o.Views {
		kinds = append(kinds, "v", "m")
	}
	exclude := o.ExcludeSchemas
	if exclude == nil {
		exclude = []string{}
	}
	rows, err := src.Query(ctx, sourceRelationsSQL, kinds, exclude, o.Partitions)
	if err != nil {
		return nil, fmt.Errorf("list source tables: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SourceRelation, error) {
		var s SourceRelation
		var kind string
		err := r.Scan(&s.Table.Schema, &s.Table.Name, &kind)
		s.Kind = relKindOf(kind)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list source tables: %w", err)
	}
	var out []SourceRelation
	for _, s := range all {
		if !replicated[s.Table] {
			out = append(out, s)
		}
	}
	return out, nil
}

func relKindOf(k string) replication.RelKind {
	switch k {
	case "r":
		return replication.KindTable
	case "p":
		return replication.KindPartitioned
	case "v":
		return replication.KindView
	case "m":
		return replication.KindMatView
	case "f":
		return replication.KindForeign
	}
	return replication.RelKind(k)
}
