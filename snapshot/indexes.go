package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// destIndex is an index of a destination table as it stands, captured so
// that it can be dropped before a load and built again after it: keeping an
// index up to date row by row costs more than the COPY itself.
type destIndex struct {
	name string
	def  string // pg_get_indexdef: CREATE … INDEX name ON schema.table …
	// conName and conDef describe the constraint the index backs, if any.
	conName   string
	conDef    string
	clustered bool
	replIdent bool
	// pinned indexes have dependents (a foreign key of another table) and
	// stay in place.
	pinned bool
}

const destIndexesSQL = `
SELECT ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid),
       COALESCE(con.conname, ''), COALESCE(pg_catalog.pg_get_constraintdef(con.oid), ''),
       i.indisclustered, i.indisreplident,
       EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.refclassid = 'pg_catalog.pg_class'::regclass
               AND d.refobjid = i.indexrelid AND d.deptype = 'n')
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
     AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = $1::regclass
ORDER BY ic.relname`

// captureIndexes lists the indexes of t.
func captureIndexes(ctx context.Context, tx pgx.Tx, t replication.Table) ([]destIndex, error) {
	rows, err := tx.Query(ctx, destIndexesSQL, t.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", t, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (destIndex, error) {
		var ix destIndex
		err := r.Scan(&ix.name, &ix.def, &ix.conName, &ix.conDef, &ix.clustered, &ix.replIdent, &ix.pinned)
		return ix, err
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", t, err)
	}
	return out, nil
}

// dropIndexes drops the indexes of t that are not pinned and returns them.
func dropIndexes(ctx context.Context, tx pgx.Tx, t replication.Table, ixs []destIndex) ([]destIndex, error) {
	var dropped []destIndex
	for _, ix := range ixs {
		if ix.pinned {
			continue
		}
		var stmt string
		if ix.conName != "" {
			stmt = "ALTER TABLE " + t.Sanitize() + " DROP CONSTRAINT " + replication.QuoteIdent(ix.conName)
		} else {
			stmt = "DROP INDEX " + t.WithName(ix.name).Sanitize()
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("drop index %s before the load: %w", replication.QuoteIdent(ix.name), err)
		}
		dropped = append(dropped, ix)
	}
	return dropped, nil
}

// rebuildIndexes builds the indexes dropped by dropIndexes again.
func rebuildIndexes(ctx context.Context, tx pgx.Tx, t replication.Table, ixs []destIndex) error {
	for _, ix := range ixs {
		stmt := ix.def
		if ix.conName != "" {
			stmt = "ALTER TABLE " + t.Sanitize() + " ADD CONSTRAINT " + replication.QuoteIdent(ix.conName) + " " + ix.conDef
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("build index %s: %w", replication.QuoteIdent(ix.name), err)
		}
		// A constraint names its index after itself.
		name := ix.name
		if ix.conName != "" {
			name = ix.conName
		}
		if ix.clustered {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+t.Sanitize()+" CLUSTER ON "+replication.QuoteIdent(name)); err != nil {
				return fmt.Errorf("mark index %s clustered: %w", replication.QuoteIdent(name), err)
			}
		}
		if ix.replIdent {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+t.Sanitize()+" REPLICA IDENTITY USING INDEX "+replication.QuoteIdent(name)); err != nil {
				return fmt.Errorf("set replica identity index %s: %w", replication.QuoteIdent(name), err)
			}
		}
	}
	return nil
}

// indexNamesSQL lists the index names of a table.
const indexNamesSQL = `SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = $1::regclass`

// createSourceIndexes makes the source's indexes on destination table t:
// the primary key and unique constraints as constraints, every other index
// (unique, partial, expression, other methods) as the same index. The
// server names them.
func createSourceIndexes(ctx context.Context, tx pgx.Tx, t replication.Table, ixs []replication.Index) error {
	for _, ix := range ixs {
		before, err := indexNames(ctx, tx, t)
		if err != nil {
			return err
		}
		unique := ""
		if ix.Unique {
			unique = "UNIQUE "
		}
		if _, err := tx.Exec(ctx, "CREATE "+unique+"INDEX ON "+t.Sanitize()+" "+ix.Body); err != nil {
			return fmt.Errorf("replicate index %s on %s: %w", replication.QuoteIdent(ix.Name), t, err)
		}
		// A primary key or unique constraint on plain columns becomes a
		// constraint again; other indexes stay indexes.
		kind := ""
		switch {
		case ix.Primary:
			kind = "PRIMARY KEY"
		case ix.Unique && ix.Constraint != "":
			kind = "UNIQUE"
		default:
			continue
		}
		after, err := indexNames(ctx, tx, t)
		if err != nil {
			return err
		}
		name := ""
		for n := range after {
			if !before[n] {
				name = n
			}
		}
		if name == "" {
			return fmt.Errorf("replicate index %s on %s: the new index was not found", replication.QuoteIdent(ix.Name), t)
		}
		// Name the constraint (and so its index) as PostgreSQL would:
		// <table>_pkey, <table>_<columns>_key.
		conName := name
		want := strings.TrimSuffix(name, "_idx") + "_key"
		if ix.Primary {
			want = t.Name + "_pkey"
		}
		if free, err := nameFree(ctx, tx, t.WithName(want)); err != nil {
			return err
		} else if free && len(want) <= maxNameLen {
			conName = want
		}
		stmt := "ALTER TABLE " + t.Sanitize() + " ADD CONSTRAINT " + replication.QuoteIdent(conName) + " " + kind +
			" USING INDEX " + replication.QuoteIdent(name)
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("replicate constraint %s on %s: %w", replication.QuoteIdent(ix.Constraint), t, err)
		}
	}
	return nil
}

func indexNames(ctx context.Context, tx pgx.Tx, t replication.Table) (map[string]bool, error) {
	rows, err := tx.Query(ctx, indexNamesSQL, t.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", t, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", t, err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// nameFree reports whether no relation is named t.
func nameFree(ctx context.Context, tx pgx.Tx, t replication.Table) (bool, error) {
	kind, err := relKind(ctx, tx, t)
	return kind == "", err
}
