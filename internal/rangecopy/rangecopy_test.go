package rangecopy_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/internal/rangecopy"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const oddTable = `"Odd Tbl"`

// fill makes the same odd table on both sides: a composite key with a
// text part (quotes, a backslash, upper and lower case, a non-ASCII
// letter) and rows whose key has a NULL part.
func fill(t *testing.T, b *pgtest.Bundle) {
	t.Helper()
	for _, db := range []pgtest.Execer{b.Source, b.Dest} {
		pgtest.MustExec(t, db, `CREATE TABLE "Odd Tbl" ("Grp" text, n int, "v'al" text)`)
		pgtest.MustExec(t, db, `INSERT INTO "Odd Tbl" SELECT g, n, g || '/' || n
			FROM unnest(ARRAY['a', 'B', 'b', 'it''s', E'back\\slash', 'Ä']) g, generate_series(1, 5) n`)
		pgtest.MustExec(t, db, `INSERT INTO "Odd Tbl" VALUES (NULL, 1, 'null group'), ('a', NULL, 'null n')`)
	}
}

// apply re-pulls ranges in one source snapshot and one destination
// transaction.
func apply(t *testing.T, b *pgtest.Bundle, spec rangecopy.Spec, ranges []rangecopy.Range) rangecopy.Stats {
	t.Helper()
	ctx := context.Background()
	var oid uint32
	require.NoError(t, b.Source.QueryRow(ctx, `SELECT $1::regclass::oid`, oddTable).Scan(&oid))
	cols, err := catalog.Columns(ctx, b.Source, oid)
	require.NoError(t, err)
	spec.Key, err = rangecopy.Keys(ctx, b.Source, cols, []string{"Grp", "n"})
	require.NoError(t, err)
	require.Equal(t, []rangecopy.Key{{Name: "Grp", Type: "text", Collate: true}, {Name: "n", Type: "integer"}}, spec.Key)
	spec.Source, spec.Target, spec.Columns = oddTable, oddTable, []string{"Grp", "n", "v'al"}
	src, err := b.Source.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	require.NoError(t, err)
	defer func() { _ = src.Rollback(ctx) }()
	dst, err := b.Dest.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = dst.Rollback(ctx) }()
	st, err := rangecopy.Apply(ctx, src.Conn().PgConn(), dst, spec, ranges)
	require.NoError(t, err)
	require.NoError(t, dst.Commit(ctx))
	return st
}

// Rows in the ranges become the source's (changed, deleted and added
// ones alike); rows outside them are left as they are. Text keys are
// bounded in "C" order: 'B' < 'a' < 'ab' < 'b' < 'back\slash' < "it's" <
// 'Ä' < 'Ö'.
func TestApplyRepullsExactlyTheRanges(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	fill(t, b)
	for _, q := range []string{
		// In the first range.
		`UPDATE "Odd Tbl" SET "v'al" = 'tampered' WHERE "Grp" = 'a' AND n = 4`,
		`DELETE FROM "Odd Tbl" WHERE "Grp" = 'b' AND n = 2`,
		`INSERT INTO "Odd Tbl" VALUES ('ab', 1, 'extra')`,
		// In the second.
		`UPDATE "Odd Tbl" SET "v'al" = 'tampered' WHERE "Grp" = 'Ä' AND n = 5`,
		`DELETE FROM "Odd Tbl" WHERE "Grp" = 'it''s' AND n = 1`,
		`INSERT INTO "Odd Tbl" VALUES ('Ö', 9, 'extra')`,
		// With a NULL in the key.
		`UPDATE "Odd Tbl" SET "v'al" = 'tampered' WHERE "Grp" IS NULL`,
		`DELETE FROM "Odd Tbl" WHERE n IS NULL`,
		// Outside every range: stays.
		`UPDATE "Odd Tbl" SET "v'al" = 'outside' WHERE "Grp" = 'B' AND n = 1`,
		`UPDATE "Odd Tbl" SET "v'al" = 'outside' WHERE "Grp" = 'a' AND n = 2`,
	} {
		pgtest.MustExec(t, b.Dest, q)
	}
	st := apply(t, b, rangecopy.Spec{}, []rangecopy.Range{
		{From: []string{"a", "3"}, To: []string{`back\slash`, "2"}},
		{From: []string{"it's", "1"}},
		{NullKey: true},
	})
	require.Equal(t, rangecopy.Stats{Deleted: 9 + 10 + 1, Inserted: 9 + 10 + 2, Bytes: st.Bytes}, st)
	want := pgtest.Rows(t, b.Source, `SELECT * FROM "Odd Tbl" WHERE NOT COALESCE("Grp" = 'B' AND n = 1 OR "Grp" = 'a' AND n = 2, false)`)
	want = append(want, `(B,1,outside)`, `(a,2,outside)`)
	got := pgtest.Rows(t, b.Dest, `SELECT * FROM "Odd Tbl"`)
	require.ElementsMatch(t, want, got)
}

// The source's row condition (with a join) and a further filter narrow
// the rows copied in; the destination's rows of the range all go.
func TestApplyKeepsToConditionAndFilter(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	fill(t, b)
	pgtest.MustExec(t, b.Source, `CREATE TABLE wanted (g text); INSERT INTO wanted VALUES ('b'), ('a')`)
	st := apply(t, b, rangecopy.Spec{
		From:         ` , wanted w WHERE w.g = "Odd Tbl"."Grp"`,
		SourceFilter: `n <> 5`,
	}, []rangecopy.Range{{}})
	require.EqualValues(t, 30, st.Deleted)
	require.EqualValues(t, 8, st.Inserted)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT "Grp", n, "v'al" FROM "Odd Tbl" WHERE "Grp" IS NULL OR n IS NULL
		UNION ALL SELECT "Grp", n, "v'al" FROM "Odd Tbl" WHERE "Grp" IN ('a', 'b') AND n <> 5`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM "Odd Tbl"`))
}

// Literal means its text whatever the session's standard_conforming_strings.
func TestLiteral(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	for _, scs := range []string{"on", "off"} {
		func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn, err := b.Dest.Acquire(ctx)
			require.NoError(t, err)
			defer conn.Release()
			defer func() { _, _ = conn.Exec(ctx, "RESET standard_conforming_strings") }()
			_, err = conn.Exec(ctx, "SET standard_conforming_strings = "+scs)
			require.NoError(t, err)
			_, err = conn.Exec(ctx, "SET escape_string_warning = off")
			require.NoError(t, err)
			for _, s := range []string{``, `plain`, `it's`, `back\slash`, `\'; DROP TABLE x; --`, `''\\`, "tab\tnew\nline", `Ä€`} {
				var got string
				require.NoError(t, conn.QueryRow(ctx, "SELECT "+sqltext.Literal(s)).Scan(&got))
				require.Equal(t, s, got, "standard_conforming_strings=%s", scs)
			}
		}()
	}
}
