package dml_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// typedDDL is a table whose values print differently under different
// DateStyle, IntervalStyle, extra_float_digits, bytea_output and TimeZone
// settings. Its column of a domain type (not built in) makes the fetch of
// its rows travel in text form.
const typedDDL = `CREATE TABLE typed (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, iv interval,
	f8 float8, f4 real, b bytea, m money, n numeric, t text, a int[], j jsonb, dd day)`

// typedValues are the values of a row of typed made from number g.
const typedValues = `g, DATE '2026-12-05' + g, TIMESTAMP '2026-01-02 03:04:05.123456' + g * INTERVAL '1 day 7 min',
	TIMESTAMPTZ '2026-03-29 00:30:00.5+00' + g * INTERVAL '37 min', g * INTERVAL '1 year 2 mons 3 days 04:05:06.789',
	pi() * g / 7, (g / 3.0)::real, decode(repeat('5c09', g % 4 + 1) || 'ff00', 'hex'), (g * 12.34)::numeric::money,
	g / 7.0, E'tab\there\\back\nline ' || g, ARRAY[g, NULL, -g], jsonb_build_object('g', g, 's', E'a\tb'), DATE '2026-01-13' - g`

// typedRows returns the rows of table (where cond holds) in a form that
// does not depend on any session setting: values decoded by pgx from their
// binary form, money as numeric.
func typedRows(t *testing.T, db replication.DB, table, cond string) [][]any {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id, d, ts, tstz, iv, f8, f4, b, m::numeric, n, t, a, j, dd::date FROM `+table+
		` WHERE `+cond+` ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		require.NoError(t, err)
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestCaptureUnderSessionSettings: the source and destination databases
// print and read values under settings of their own (day-first and German
// dates, SQL-standard and ISO 8601 intervals, floats cut to 12 digits,
// escaped bytea, time zones hours apart). Inserts, updates (one moving
// keys), and deletes arrive unchanged for both captures and both variants,
// whether applied from the stream's values (logical capture) or from
// fetched rows, which a column of a domain type makes travel as text; so
// do the last values of deleted rows that logdel keeps.
func TestCaptureUnderSessionSettings(t *testing.T) {
	t.Parallel()
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		t.Run(capture.String(), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			for _, set := range []string{`DateStyle = 'SQL, DMY'`, `IntervalStyle = 'sql_standard'`, `extra_float_digits = -3`,
				`bytea_output = 'escape'`, `TimeZone = 'Asia/Kolkata'`} {
				pgtest.MustExec(t, b.Source, `ALTER DATABASE `+replication.QuoteIdent(b.SourceDB)+` SET `+set)
			}
			for _, set := range []string{`DateStyle = 'German, MDY'`, `IntervalStyle = 'iso_8601'`, `TimeZone = 'America/Los_Angeles'`} {
				pgtest.MustExec(t, b.Dest, `ALTER DATABASE `+replication.QuoteIdent(b.DestDB)+` SET `+set)
			}
			source, dest := pgtest.Pool(t, b.SourceDSN), pgtest.Pool(t, b.DestDSN)
			require.Equal(t, []string{"(\"SQL, DMY\")"}, pgtest.Rows(t, source, `SELECT current_setting($$DateStyle$$)`))
			require.Equal(t, []string{"(\"German, MDY\")"}, pgtest.Rows(t, dest, `SELECT current_setting($$DateStyle$$)`))
			pgtest.MustExec(t, source, `CREATE DOMAIN day AS date`)
			pgtest.MustExec(t, dest, `CREATE DOMAIN day AS date`)
			pgtest.MustExec(t, source, typedDDL)
			pgtest.MustExec(t, source, `ALTER TABLE typed REPLICA IDENTITY FULL`)
			pgtest.MustExec(t, source, `INSERT INTO typed SELECT `+typedValues+` FROM generate_series(1, 40) g`)
			variants := []dml.Variant{dml.Plain, dml.LogDeletes}
			jobs := map[dml.Variant]*dml.Replicator{}
			for _, v := range variants {
				r, err := dml.NewVariant(source, dest, replication.T("public", "typed"),
					&dml.Config{Capture: capture, Options: replication.Options{Dest: replication.T("public", "typed_"+v.Label())}}, v)
				require.NoError(t, err)
				require.NoError(t, r.Setup(ctx))
				jobs[v] = r
			}
			pgtest.MustExec(t, source, `UPDATE typed SET (id, d, ts, tstz, iv, f8, f4, b, m, n, t, a, j, dd) =
				(SELECT `+typedValues+` FROM (SELECT typed.id + 100 AS g) s) WHERE id % 2 = 0`)
			pgtest.MustExec(t, source, `CREATE TABLE typed_gone AS SELECT * FROM typed WHERE id % 5 = 0`)
			pgtest.MustExec(t, source, `DELETE FROM typed WHERE id % 5 = 0`)
			pgtest.MustExec(t, source, `INSERT INTO typed SELECT `+typedValues+` FROM generate_series(41, 60) g`)
			for _, v := range variants {
				refresh(t, jobs[v])
			}
			want := typedRows(t, source, "typed", "true")
			require.Len(t, want, 52)
			require.Equal(t, want, typedRows(t, dest, `"typed_DML"`, "true"))
			require.Equal(t, want, typedRows(t, dest, `"typed_Logdel"`, "mimeo_source_deleted IS NULL"))
			gone := typedRows(t, source, "typed_gone", "true")
			require.Len(t, gone, 8)
			require.Equal(t, gone, typedRows(t, dest, `"typed_Logdel"`, "mimeo_source_deleted IS NOT NULL"))
			for _, v := range variants {
				require.NoError(t, jobs[v].Destroy(ctx, nil))
			}
		})
	}
}

// TestLogicalStreamAndFetchCrashes: in one refresh, most changed rows come
// from the stream (two pieces of ChunkSize keys) and two rows whose update
// left a TOASTed value alone are fetched from the source (a third piece).
// The refresh is cut short by a terminated stream or destination session
// before or after the commit of the second piece (stream rows committed,
// fetched rows not) or of the third (the last, which saves the position).
// The next refreshes converge exactly, and the TOASTed values are kept,
// for dml and logdel.
func TestLogicalStreamAndFetchCrashes(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, when := range []string{"before commit", "after commit"} {
			for _, side := range []string{"stream", "dest"} {
				for _, piece := range []int{2, 3} {
					t.Run(fmt.Sprintf("%s/%s/%s/piece%d", v.Label(), when, side, piece), func(t *testing.T) {
						t.Parallel()
						b := pgtest.Setup(t)
						ctx := context.Background()
						cfg := &dml.Config{Capture: dml.CaptureLogical, ChunkSize: 10}
						pgtest.MustExec(t, b.Source, accountsDDL)
						pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
						// random text does not compress, so it is stored out of line
						pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g,
							CASE WHEN g <= 2 THEN (SELECT string_agg(md5(random()::text || x), '') FROM generate_series(1, 400 + g - g) x) END,
							NULL, NULL FROM generate_series(1, 40) g`)
						r, err := dml.NewVariant(b.Source, b.Dest, accounts, cfg, v)
						require.NoError(t, err)
						require.NoError(t, r.Setup(ctx))
						// keys 1 and 2 are fetched; 3..20 (18 keys, one deleted)
						// come from the stream
						pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance * 10 WHERE id <= 20`)
						pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id = 15`)
						var calls atomic.Int32
						kill := func(ctx context.Context, p dml.Phase) error {
							if int(calls.Add(1)) < piece {
								return nil
							}
							terminate(t, b, side, p)
							return errCrash
						}
						if when == "before commit" {
							dml.SetHooks(r, nil, kill, nil)
						} else {
							dml.SetHooks(r, nil, nil, kill)
						}
						_, err = r.Refresh(ctx)
						require.Error(t, err)
						require.Equal(t, int32(piece), calls.Load())
						r, err = dml.NewVariant(pgtest.Pool(t, b.SourceDSN), pgtest.Pool(t, b.DestDSN), accounts, cfg, v)
						require.NoError(t, err)
						pgtest.MustExec(t, b.Source, `UPDATE accounts SET owner = 'after' WHERE id % 3 = 0`)
						pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id = 1`)
						for i := 0; i < 2; i++ {
							_, err := r.Refresh(ctx)
							require.NoError(t, err)
						}
						if v == dml.Plain {
							requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
						} else {
							requireSame(t, b, `SELECT * FROM accounts`, `SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL`)
							require.Equal(t, []string{"(1,12800,o1,10.00)", "(15,,o15,150.00)"},
								pgtest.Rows(t, b.Dest, `SELECT id, length(note), owner, balance FROM accounts WHERE mimeo_source_deleted IS NOT NULL ORDER BY id`))
						}
						require.Equal(t, []string{"(12800)"}, pgtest.Rows(t, b.Dest, `SELECT length(note) FROM accounts WHERE id = 2`))
						res, err := r.Refresh(ctx)
						require.NoError(t, err)
						require.True(t, res.Skipped, "nothing is applied twice")
					})
				}
			}
		}
	}
}

// TestLogicalImageCap: a fold whose row images pass the cap is loaded as
// a piece at once, before it holds ChunkSize keys; with FetchFirst (one
// piece) its rows are fetched from the source instead. Both converge. Which
// way a refresh went shows in its counts when a batch limit splits the
// stream: rows from the stream are applied as of the stream position, so
// every update read is applied, even of rows deleted later, while fetched
// rows are current (as with the trigger capture, see TestScenarios).
func TestLogicalImageCap(t *testing.T) {
	t.Parallel()
	pieces := map[[2]bool]int32{}
	for _, fetchFirst := range []bool{false, true} {
		for _, capped := range []bool{false, true} {
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, accountsDDL)
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`)
			r := newDML(t, b, accounts, &dml.Config{Capture: dml.CaptureLogical, ChunkSize: 15, FetchFirst: fetchFirst,
				Options: replication.Options{BatchLimit: 40}})
			if capped {
				dml.SetMaxImageBytes(r, 100)
			}
			var loaded atomic.Int32
			dml.SetHooks(r, func(context.Context, dml.Phase) error { loaded.Add(1); return nil }, nil, nil)
			require.NoError(t, r.Setup(context.Background()))
			pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = -balance`)
			pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id % 5 = 0`)
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'n', 0, NULL, NULL, NULL FROM generate_series(301, 350) g`)
			var got replication.Result
			for n := 0; ; n++ {
				require.Less(t, n, 100)
				res := refresh(t, r)
				got.Inserted, got.Updated, got.Deleted = got.Inserted+res.Inserted, got.Updated+res.Updated, got.Deleted+res.Deleted
				if !res.More {
					break
				}
			}
			requireSame(t, b, `SELECT * FROM accounts ORDER BY id`, `SELECT * FROM accounts ORDER BY id`)
			updated := int64(300)
			if fetchFirst && capped {
				updated = 240
			}
			require.Equal(t, [3]int64{50, updated, 60}, [3]int64{got.Inserted, got.Updated, got.Deleted}, "fetch first %v, capped %v", fetchFirst, capped)
			pieces[[2]bool{fetchFirst, capped}] = loaded.Load()
		}
	}
	t.Logf("pieces loaded (fetch first, capped): %v", pieces)
	require.Greater(t, pieces[[2]bool{false, true}], pieces[[2]bool{false, false}])
	require.Equal(t, pieces[[2]bool{true, true}], pieces[[2]bool{true, false}])
}

// TestLogicalLogdelEmptyRow: logdel keeps the deletion of a row whose
// replicated values print as nothing (one text column holding the empty
// string).
func TestLogicalLogdelEmptyRow(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `CREATE TABLE tags (name text PRIMARY KEY)`)
	pgtest.MustExec(t, b.Source, `ALTER TABLE tags REPLICA IDENTITY FULL`)
	pgtest.MustExec(t, b.Source, `INSERT INTO tags VALUES (''), ('a'), ('b')`)
	r, err := dml.NewVariant(b.Source, b.Dest, replication.T("public", "tags"), &dml.Config{Capture: dml.CaptureLogical}, dml.LogDeletes)
	require.NoError(t, err)
	require.NoError(t, r.Setup(context.Background()))
	pgtest.MustExec(t, b.Source, `DELETE FROM tags WHERE name IN ('', 'a')`)
	refresh(t, r)
	require.Equal(t, []string{`("",t)`, "(a,t)", "(b,f)"},
		pgtest.Rows(t, b.Dest, `SELECT name, mimeo_source_deleted IS NOT NULL FROM tags ORDER BY name`))
}
