package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/replication"
)

// sequenceUsersSQL lists the columns (of any table) that draw from a
// sequence: through their default (nextval), as the owner of a serial's
// sequence, or as an identity column.
const sequenceUsersSQL = `
WITH seq AS (SELECT $1::regclass::oid AS oid),
users AS (
  SELECT ad.adrelid AS rel, ad.adnum AS att
  FROM pg_catalog.pg_attrdef ad
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
  WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = (SELECT oid FROM seq)
  UNION
  SELECT d.refobjid, d.refobjsubid::int2
  FROM pg_catalog.pg_depend d
  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = (SELECT oid FROM seq)
    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
)
SELECT n.nspname::text, c.relname::text, a.attname::text
FROM users u
JOIN pg_catalog.pg_class c ON c.oid = u.rel
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.att
ORDER BY 1, 2, 3`

// resetSequences sets each sequence to the highest value found in the
// columns that draw from it, so that the next value is past every row the
// load brought in. A sequence whose columns are all empty is left alone.
func resetSequences(ctx context.Context, tx pgx.Tx, seqs []replication.Table) ([]string, error) {
	var done []string
	for _, seq := range seqs {
		rows, err := tx.Query(ctx, sequenceUsersSQL, seq.Sanitize())
		if err != nil {
			return done, fmt.Errorf("find the columns using sequence %s: %w", seq, err)
		}
		users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([3]string, error) {
			var u [3]string
			err := r.Scan(&u[0], &u[1], &u[2])
			return u, err
		})
		if err != nil {
			return done, fmt.Errorf("find the columns using sequence %s: %w", seq, err)
		}
		var highest *int64
		for _, u := range users {
			var m *int64
			q := "SELECT max(" + replication.QuoteIdent(u[2]) + ")::int8 FROM " + replication.T(u[0], u[1]).Sanitize()
			if err := tx.QueryRow(ctx, q).Scan(&m); err != nil {
				return done, fmt.Errorf("highest value of sequence %s in %s: %w", seq, replication.T(u[0], u[1]), err)
			}
			if m != nil && (highest == nil || *m > *highest) {
				highest = m
			}
		}
		if highest == nil {
			continue
		}
		// A value below the sequence's minimum (say 0) makes the next
		// value the minimum.
		_, err = tx.Exec(ctx, `SELECT pg_catalog.setval($1::regclass, GREATEST($2::int8, s.seqmin), $2::int8 >= s.seqmin)
			FROM pg_catalog.pg_sequence s WHERE s.seqrelid = $1::regclass`, seq.Sanitize(), *highest)
		if err != nil {
			return done, fmt.Errorf("reset sequence %s: %w", seq, err)
		}
		done = append(done, fmt.Sprintf("%s = %d", seq, *highest))
	}
	return done, nil
}

// checkSequences fails with ErrTableNotFound for a name in seqs that is not
// a sequence of the destination.
func checkSequences(ctx context.Context, db catalog.Querier, seqs []replication.Table) error {
	for _, seq := range seqs {
		kind, err := relKind(ctx, db, seq)
		if err != nil {
			return err
		}
		if kind != "S" {
			return &replication.TableError{Table: seq, Err: replication.ErrTableNotFound,
				Fix: "TableConfig.Sequences must name sequences of the destination database; create it or remove it from the list"}
		}
	}
	return nil
}
