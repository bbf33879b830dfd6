package dml

import (
	"context"
	"fmt"
	"sort"

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

// checkLogicalSource checks what logical capture needs of the source: the
// REPLICATION attribute, wal_level = logical, ownership of the table and
// CREATE on the database (for its publication), and a replica identity
// that carries the key (for logdel, REPLICA IDENTITY FULL, so a deleted
// row's last values arrive with its deletion).
func (r *Replicator) checkLogicalSource(ctx context.Context, spec *keyapply.TableSpec) (identity, error) {
	var id identity
	var role, db, walLevel, ident string
	var repl, owner, create bool
	var identCols []string
	err := r.source.QueryRow(ctx, `SELECT current_user, current_database(), r.rolreplication OR r.rolsuper, current_setting('wal_level'),
		pg_catalog.pg_has_role(c.relowner, 'USAGE'), pg_catalog.has_database_privilege(current_database(), 'CREATE'), c.relreplident::text,
		ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i
		      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
		      WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END
		      ORDER BY 1)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r ON r.rolname = current_user
		WHERE c.oid = $1::pg_catalog.regclass`, spec.Source.Sanitize()).Scan(&role, &db, &repl, &walLevel, &owner, &create, &ident, &identCols)
	if err != nil {
		return id, fmt.Errorf("check %s for logical capture: %w", spec.Source, err)
	}
	quoted := spec.Source.Sanitize()
	switch {
	case !repl:
		return id, &replication.TableError{Table: spec.Source, Err: replication.ErrPrivilege,
			Fix: fmt.Sprintf("logical capture needs the REPLICATION attribute: ALTER ROLE %s REPLICATION", replication.QuoteIdent(role))}
	case walLevel != "logical":
		return id, &replication.TableError{Table: spec.Source, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("logical capture needs wal_level = logical on the source server (it is %s); set it and restart", walLevel)}
	case !owner:
		return id, &replication.TableError{Table: spec.Source, Err: replication.ErrPrivilege,
			Fix: fmt.Sprintf("logical capture makes a publication of the table, which needs its owner: ALTER TABLE %s OWNER TO %s, or use the trigger capture",
				quoted, replication.QuoteIdent(role))}
	case !create:
		return id, &replication.TableError{Table: spec.Source, Err: replication.ErrPrivilege,
			Fix: fmt.Sprintf("logical capture makes a publication, which needs the CREATE privilege on the source database: GRANT CREATE ON DATABASE %s TO %s, or use the trigger capture",
				replication.QuoteIdent(db), replication.QuoteIdent(role))}
	}
	id.full = ident == "f"
	if r.variant.KeepsDeleted() && !id.full {
		return id, &replication.TableError{Table: spec.Source, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("%s replication by logical capture needs the deleted row's values: ALTER TABLE %s REPLICA IDENTITY FULL",
				r.variant.Label(), quoted)}
	}
	if !id.full {
		key := append([]string(nil), spec.Key...)
		sort.Strings(key)
		if ident == "n" || len(identCols) == 0 || fmt.Sprint(identCols) != fmt.Sprint(key) {
			return id, &replication.TableError{Table: spec.Source, Err: replication.ErrNoKey,
				Fix: fmt.Sprintf("the table's replica identity must be the replicated key (%s): ALTER TABLE %s REPLICA IDENTITY USING INDEX <unique index on the key>, or REPLICA IDENTITY FULL",
					sqltext.IdentList("", spec.Key), quoted)}
		}
	}
	return id, nil
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
