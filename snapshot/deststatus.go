package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/replication"
)

// destStatus is what a snapshot's destination looks like in the database.
type destStatus struct {
	// kind is the relkind of the destination name ("" when absent, "v" for
	// the view a healthy snapshot has).
	kind string
	// active is the snapshot table (1 or 2) the view reads; 0 when none.
	active int
	// cols are the column names of snap1 (index 1) and snap2 (index 2);
	// nil when the table is missing.
	cols [3][]string
}

const relKindSQL = `SELECT c.relkind::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`

// viewSourcesSQL lists the tables a view's rule reads.
const viewSourcesSQL = `
SELECT DISTINCT t.relname
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
WHERE r.ev_class = $1::regclass AND d.refobjid <> r.ev_class
ORDER BY 1`

const columnNamesSQL = `SELECT a.attname::text FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

// inspectDest reads the state of view dest and its two tables.
func inspectDest(ctx context.Context, db catalog.Querier, dest replication.Table) (*destStatus, error) {
	st := &destStatus{}
	var err error
	if st.kind, err = relKind(ctx, db, dest); err != nil {
		return nil, err
	}
	if st.kind == "v" {
		rows, err := db.Query(ctx, viewSourcesSQL, dest.Sanitize())
		if err != nil {
			return nil, fmt.Errorf("read view %s: %w", dest, err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("read view %s: %w", dest, err)
		}
		for n := 1; n <= 2; n++ {
			if slices.Equal(names, []string{snapTable(dest, n).Name}) {
				st.active = n
			}
		}
	}
	for n := 1; n <= 2; n++ {
		t := snapTable(dest, n)
		k, err := relKind(ctx, db, t)
		if err != nil {
			return nil, err
		}
		if k != "r" {
			continue
		}
		rows, err := db.Query(ctx, columnNamesSQL, t.Sanitize())
		if err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", t, err)
		}
		if st.cols[n], err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", t, err)
		}
	}
	return st, nil
}

// relKind returns the relkind of t, "" when there is no such relation.
func relKind(ctx context.Context, db catalog.Querier, t replication.Table) (string, error) {
	var k string
	err := db.QueryRow(ctx, relKindSQL, t.Schema, t.Name).Scan(&k)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", t, err)
	}
	return k, nil
}

// intact reports whether the view reads one of the two tables and both
// tables have exactly the given columns.
func (st *destStatus) intact(names []string) bool {
	return st.kind == "v" && st.active != 0 && slices.Equal(st.cols[1], names) && slices.Equal(st.cols[2], names)
}
