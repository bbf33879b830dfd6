package dml

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// identity is what the source table's replica identity tells the stream
// of an update or delete.
type identity struct {
	// full: the old row is sent whole (REPLICA IDENTITY FULL).
	full bool
}

// sourceIdentity reads the source table's replica identity. What logical
// capture needs of it (one that carries the key; FULL to keep deleted
// rows) setup has checked with the job's prerequisite.
func (r *Replicator) sourceIdentity(ctx context.Context, spec *keyapply.TableSpec) (identity, error) {
	var ident string
	err := r.source.QueryRow(ctx, `SELECT relreplident::text FROM pg_catalog.pg_class WHERE oid = $1::pg_catalog.regclass`,
		spec.Source.Sanitize()).Scan(&ident)
	if err != nil {
		return identity{}, fmt.Errorf("read the replica identity of %s: %w", spec.Source, err)
	}
	return identity{full: ident == "f"}, nil
}

// createPublication creates publication name of the source table in
// db. Without REPLICA IDENTITY FULL, and when the column filter leaves
// columns out, it lists the replicated columns (PostgreSQL's column list),
// so other columns are not decoded; with FULL no list is allowed. The row condition is not made a row filter: a filter
// on an update or delete may only name replica identity columns, and a
// mimeo condition may name other tables; the condition is applied on the
// rows fetched for the changed keys instead.
func createPublication(ctx context.Context, db replication.DB, name string, spec *keyapply.TableSpec, id identity) error {
	if err := checkObjectName("publication", name); err != nil {
		return err
	}
	target := spec.Source.Sanitize()
	if !id.full {
		// A column list only where the filter leaves columns out: a list,
		// even one naming every column, makes PostgreSQL refuse updates
		// of the table once someone sets its replica identity to FULL.
		var all int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_attribute
			WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, target).Scan(&all); err != nil {
			return fmt.Errorf("count the columns of %s: %w", spec.Source, err)
		}
		if len(spec.Columns) < all {
			target += ` (` + sqltext.IdentList("", spec.ColumnNames()) + `)`
		}
	}
	_, err := db.Exec(ctx, `CREATE PUBLICATION `+replication.QuoteIdent(name)+` FOR TABLE `+target+
		` WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`)
	if err != nil {
		return fmt.Errorf("create publication %s of %s: %w", name, spec.Source, err)
	}
	return nil
}

// dropPublication drops publication name when it exists.
func dropPublication(ctx context.Context, db replication.DB, name string) error {
	if err := checkObjectName("publication", name); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `DROP PUBLICATION IF EXISTS `+replication.QuoteIdent(name)); err != nil {
		return fmt.Errorf("drop publication %s: %w", name, err)
	}
	return nil
}
