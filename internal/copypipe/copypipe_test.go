package copypipe_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const mixedDDL = `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "Mixed Case" (id int PRIMARY KEY, "text col" text, n numeric(12,3), ts timestamptz,
	arr int[], j jsonb, b bytea, m mood, u uuid)`

const mixedRows = `INSERT INTO "Mixed Case"
SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE E'tab\there, newline\n, quote '' "dq" \\ back ' || g END,
	g * 1.5, '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 minute',
	ARRAY[g, NULL, -g], jsonb_build_object('k', g, 'ü', 'ß'), decode(md5(g::text), 'hex'),
	(ARRAY['sad','ok','happy'])[g % 3 + 1]::mood, md5(g::text)::uuid
FROM generate_series(1, 5000) g`

func columns(t *testing.T, p *pgxpool.Pool, table string) []catalog.Column {
	t.Helper()
	rel, err := catalog.LookupRelation(context.Background(), p, "public", table)
	require.NoError(t, err)
	cols, err := catalog.Columns(context.Background(), p, rel.OID)
	require.NoError(t, err)
	return cols
}

func copyAll(t *testing.T, b *pgtest.Bundle, spec copypipe.Spec) (copypipe.Stats, error) {
	t.Helper()
	ctx := context.Background()
	src, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer src.Release()
	dst, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer dst.Release()
	return copypipe.Copy(ctx, src.Conn().PgConn(), dst.Conn().PgConn(), spec)
}

func TestCopyTextAndBinary(t *testing.T) {
	t.Parallel()
	for _, binary := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "binary"}[binary], func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, mixedDDL)
			pgtest.MustExec(t, b.Source, mixedRows)
			pgtest.MustExec(t, b.Dest, mixedDDL)
			cols := []string{"id", "text col", "n", "ts", "arr", "j", "b", "u"}
			if !binary {
				cols = append(cols, "m") // an enum's binary form carries a database-local OID
			}
			query := `SELECT id, "text col", n, ts, arr, j, b, u` + map[bool]string{false: ", m", true: ""}[binary] + ` FROM "Mixed Case"`
			st, err := copyAll(t, b, copypipe.Spec{Query: query, Dest: `"public"."Mixed Case"`, Columns: cols, Binary: binary})
			require.NoError(t, err)
			require.Equal(t, int64(5000), st.Rows)
			require.Positive(t, st.Bytes)
			want := pgtest.Rows(t, b.Source, query)
			require.Len(t, want, 5000)
			require.Equal(t, want, pgtest.Rows(t, b.Dest, query))
		})
	}
}

func TestCanBinary(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, mixedDDL)
	pgtest.MustExec(t, b.Dest, mixedDDL)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE other (id bigint, "text col" text)`)
	src, dst := columns(t, b.Source, "Mixed Case"), columns(t, b.Dest, "Mixed Case")
	require.True(t, copypipe.CanBinary(src[:7], dst[:7]), "built-in types match")
	require.False(t, copypipe.CanBinary(src, dst), "the enum goes as text")
	require.False(t, copypipe.CanBinary(src[:2], columns(t, b.Dest, "other")), "int vs bigint")
	require.False(t, copypipe.CanBinary(src[:1], dst[:2]), "different lengths")
}

func TestCopyFailureOnEitherSideLoadsNothing(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE big (id int, pad text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 300000) g`)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE big (id int PRIMARY KEY, pad text)`)
	spec := copypipe.Spec{Query: `SELECT id, pad FROM big`, Dest: `"big"`}

	// Destination refuses a row half-way: a duplicate key near the end.
	pgtest.MustExec(t, b.Dest, `INSERT INTO big VALUES (250000, 'already here')`)
	_, err := copyAll(t, b, spec)
	require.ErrorContains(t, err, "duplicate key")
	require.Equal(t, []string{"(250000)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM big`))
	pgtest.MustExec(t, b.Dest, `TRUNCATE big`)

	// Source errors half-way (division by zero at row 200000).
	_, err = copyAll(t, b, copypipe.Spec{Query: `SELECT id, pad || (1 / (200000 - id))::text FROM big`, Dest: `"big"`})
	require.ErrorContains(t, err, "copy out of source")
	require.ErrorContains(t, err, "division by zero")
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT id FROM big`))

	// The source backend is terminated mid-copy.
	src, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer src.Release()
	dst, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer dst.Release()
	srcPID := src.Conn().PgConn().PID()
	var progressed = make(chan struct{}, 1)
	spec.Progress = func(int64) {
		select {
		case progressed <- struct{}{}:
		default:
		}
	}
	spec.ProgressEvery = 1 << 20
	spec.BufferSize = 64 << 10
	go func() {
		<-progressed
		_, _ = b.Source.Exec(ctx, `SELECT pg_terminate_backend($1)`, srcPID)
	}()
	tx, err := dst.Begin(ctx)
	require.NoError(t, err)
	_, err = copypipe.Copy(ctx, src.Conn().PgConn(), tx.Conn().PgConn(), spec)
	require.Error(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT id FROM big`))
	// The destination connection is still usable.
	require.NoError(t, dst.Ping(ctx))
}

func TestCopyStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `CREATE TABLE slow (id int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO slow SELECT generate_series(1, 50)`)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE slow (id int)`)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	src, err := b.Source.Acquire(context.Background())
	require.NoError(t, err)
	defer src.Release()
	dst, err := b.Dest.Acquire(context.Background())
	require.NoError(t, err)
	defer dst.Release()
	start := time.Now()
	// pg_sleep per row makes the source take 5 s.
	_, err = copypipe.Copy(ctx, src.Conn().PgConn(), dst.Conn().PgConn(),
		copypipe.Spec{Query: `SELECT id FROM slow WHERE pg_sleep(0.1)::text IS NOT NULL`, Dest: `"slow"`})
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 4*time.Second, "copy ran on: %v", err)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT id FROM slow`))
}

func TestSpecSQL(t *testing.T) {
	s := copypipe.Spec{Query: `SELECT 1`, Dest: `"s"."t"`, Columns: []string{"a", `b"c`}, Binary: true, Freeze: true}
	require.Equal(t, `COPY (SELECT 1) TO STDOUT (FORMAT binary)`, s.OutSQL())
	require.Equal(t, `COPY "s"."t" ("a", "b""c") FROM STDIN (FORMAT binary, FREEZE)`, s.InSQL())
}

// TestCopyTextUnderSessionSettings: the source database prints dates day
// first, floats cut to 12 digits and bytea escaped; the destination reads
// dates month first. In text form the values still arrive unchanged (a
// date printed 05/12/2026 would otherwise be read as May 12, silently),
// whether the connections are in a transaction or not, and a session that
// Copy began a transaction on keeps its own settings after.
func TestCopyTextUnderSessionSettings(t *testing.T) {
	t.Parallel()
	for _, inTx := range []bool{false, true} {
		t.Run(fmt.Sprintf("in transaction %v", inTx), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			for _, set := range []string{`DateStyle = 'SQL, DMY'`, `extra_float_digits = -3`, `bytea_output = 'escape'`, `TimeZone = 'Asia/Kolkata'`} {
				pgtest.MustExec(t, b.Source, `ALTER DATABASE `+pgx.Identifier{b.SourceDB}.Sanitize()+` SET `+set)
			}
			for _, set := range []string{`DateStyle = 'ISO, MDY'`, `TimeZone = 'America/Los_Angeles'`} {
				pgtest.MustExec(t, b.Dest, `ALTER DATABASE `+pgx.Identifier{b.DestDB}.Sanitize()+` SET `+set)
			}
			source, dest := pgtest.Pool(t, b.SourceDSN), pgtest.Pool(t, b.DestDSN)
			const ddl = `CREATE TABLE v (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, f float8, b bytea)`
			pgtest.MustExec(t, source, ddl)
			pgtest.MustExec(t, dest, ddl)
			pgtest.MustExec(t, source, `INSERT INTO v SELECT g, DATE '2026-12-05' + g, TIMESTAMP '2026-01-02 03:04:05.25' + g * INTERVAL '1 day',
				TIMESTAMPTZ '2026-03-29 00:30:00+00' + g * INTERVAL '37 min', pi() * g, decode('5c0900ff', 'hex') FROM generate_series(1, 40) g`)
			src, err := source.Acquire(ctx)
			require.NoError(t, err)
			defer src.Release()
			dst, err := dest.Acquire(ctx)
			require.NoError(t, err)
			defer dst.Release()
			if inTx {
				for _, c := range []*pgxpool.Conn{src, dst} {
					_, err := c.Exec(ctx, `BEGIN`)
					require.NoError(t, err)
				}
			}
			st, err := copypipe.Copy(ctx, src.Conn().PgConn(), dst.Conn().PgConn(), copypipe.Spec{Query: `SELECT * FROM v`, Dest: "v"})
			require.NoError(t, err)
			require.EqualValues(t, 40, st.Rows)
			if inTx {
				for _, c := range []*pgxpool.Conn{src, dst} {
					_, err := c.Exec(ctx, `COMMIT`)
					require.NoError(t, err)
				}
			} else {
				var style string
				require.NoError(t, src.QueryRow(ctx, `SELECT current_setting('DateStyle')`).Scan(&style))
				require.Equal(t, "SQL, DMY", style)
				require.NoError(t, dst.QueryRow(ctx, `SELECT current_setting('DateStyle')`).Scan(&style))
				require.Equal(t, "ISO, MDY", style)
			}
			const check = `SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', id, to_char(d, 'YYYY-MM-DD'), extract(epoch FROM ts), extract(epoch FROM tstz),
				encode(float8send(f), 'hex'), encode(b, 'hex')), ',' ORDER BY id)) FROM v`
			require.Equal(t, pgtest.Rows(t, source, check), pgtest.Rows(t, dest, check))
		})
	}
}
