package check_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// ordersDDL makes a table with hostile names on either side: 100 orders,
// one an hour from 2024-01-01 00:00 UTC, ids 1..100.
const ordersDDL = `CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order-Lines" ("Id" int PRIMARY KEY, "when" timestamptz NOT NULL, "select" text, qty int);
INSERT INTO "Sales Dept"."Order-Lines"
SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i - 1) * interval '1 hour', 'item ' || i, i % 7 FROM generate_series(1, 100) i;`

var orders = replication.T("Sales Dept", "Order-Lines")

func strp(s string) *string { return &s }

func TestRowCountWholeTable(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, ordersDDL)
	pgtest.MustExec(t, b.Dest, ordersDDL)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM "Sales Dept"."Order-Lines"`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM "Sales Dept"."Order-Lines"`))

	rc, err := check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders, nil)
	require.NoError(t, err)
	require.Equal(t, &check.RowCount{Source: orders, Dest: orders, SourceCount: 100, DestCount: 100, Match: true}, rc)

	pgtest.MustExec(t, b.Dest, `DELETE FROM "Sales Dept"."Order-Lines" WHERE "Id" IN (3, 4)`)
	rc, err = check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders, nil)
	require.NoError(t, err)
	require.False(t, rc.Match)
	require.Equal(t, int64(100), rc.SourceCount)
	require.Equal(t, int64(98), rc.DestCount)
}

func TestRowCountConditionAndViewDest(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, ordersDDL)
	// The destination holds the rows of the condition, behind a view as a
	// snapshot job keeps them.
	pgtest.MustExec(t, b.Dest, ordersDDL+`
		DELETE FROM "Sales Dept"."Order-Lines" WHERE qty <> 3;
		ALTER TABLE "Sales Dept"."Order-Lines" RENAME TO "Order-Lines_snap1";
		CREATE VIEW "Sales Dept"."Order-Lines" AS SELECT * FROM "Sales Dept"."Order-Lines_snap1";`)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM "Sales Dept"."Order-Lines" WHERE qty = 3`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM "Sales Dept"."Order-Lines"`))

	for _, cond := range []string{"qty = 3", "WHERE qty = 3", `, (SELECT 3 AS three) x WHERE qty = x.three`} {
		rc, err := check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders, &check.RowCountOptions{Condition: cond})
		require.NoError(t, err, cond)
		require.True(t, rc.Match, cond)
		require.Equal(t, int64(14), rc.SourceCount, cond)
		require.Equal(t, int64(14), rc.DestCount, cond)
	}
	rc, err := check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders, nil)
	require.NoError(t, err)
	require.False(t, rc.Match)
	require.Equal(t, int64(100), rc.SourceCount)

	// The destination condition narrows the destination side only.
	rc, err = check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders,
		&check.RowCountOptions{Condition: "qty = 3", DestCondition: `"Id" < 50`})
	require.NoError(t, err)
	require.Equal(t, []int64{14, 7}, []int64{rc.SourceCount, rc.DestCount})
}

// The destination of an incremental job lags the source: the count stops at
// the destination's greatest control value, and the intervals narrow it,
// as mimeo's validate_rowcount does.
func TestRowCountIncrementalIntervals(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, ordersDDL)
	// Pulled up to hour 79 (id 80); rows after it are not yet pulled.
	pgtest.MustExec(t, b.Dest, ordersDDL+`DELETE FROM "Sales Dept"."Order-Lines" WHERE "Id" > 80`)

	time := func(o *check.RowCountOptions) *check.RowCount {
		t.Helper()
		o.Control = "when"
		rc, err := check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders, o)
		require.NoError(t, err)
		return rc
	}
	rc := time(&check.RowCountOptions{})
	require.Equal(t, &check.RowCount{Source: orders, Dest: orders, SourceCount: 80, DestCount: 80, Match: true,
		ControlBounds: check.ControlBounds{Control: "when", DestMax: strp("2024-01-04 07:00:00+00"), Max: strp("2024-01-04 07:00:00+00"), MaxInclusive: true}}, rc)

	// Ids 71..80 are the last ten hours: (max - 10 hours, max].
	rc = time(&check.RowCountOptions{Lower: "10 hours"})
	require.Equal(t, []int64{10, 10}, []int64{rc.SourceCount, rc.DestCount})
	require.Equal(t, "2024-01-03 21:00:00+00", *rc.Min)

	// (max - 10 hours, max - 2 hours): ids 71..77.
	rc = time(&check.RowCountOptions{Lower: "10 hours", Upper: "2 hours"})
	require.Equal(t, []int64{7, 7}, []int64{rc.SourceCount, rc.DestCount})
	require.Equal(t, "2024-01-04 05:00:00+00", *rc.Max)
	require.False(t, rc.MaxInclusive)
	require.True(t, rc.Match)

	// A row lost inside the interval is a mismatch; outside it is not seen.
	pgtest.MustExec(t, b.Dest, `DELETE FROM "Sales Dept"."Order-Lines" WHERE "Id" IN (20, 75)`)
	rc = time(&check.RowCountOptions{Lower: "10 hours", Upper: "2 hours"})
	require.Equal(t, []int64{7, 6}, []int64{rc.SourceCount, rc.DestCount})
	require.False(t, rc.Match)
	rc = time(&check.RowCountOptions{Lower: "4 hours"})
	require.True(t, rc.Match)
	rc = time(&check.RowCountOptions{})
	require.Equal(t, []int64{80, 78}, []int64{rc.SourceCount, rc.DestCount})

	// The serial form: "Id" as the control column, offsets as integers.
	rc, err := check.ValidateRowCount(ctx, b.Source, b.Dest, orders, orders,
		&check.RowCountOptions{Control: "Id", Lower: "30", Upper: "10"})
	require.NoError(t, err)
	require.Equal(t, &check.RowCount{Source: orders, Dest: orders, SourceCount: 19, DestCount: 19, Match: true,
		ControlBounds: check.ControlBounds{Control: "Id", DestMax: strp("80"), Min: strp("50"), Max: strp("70")}}, rc)

	// An empty destination counts every source row.
	pgtest.MustExec(t, b.Dest, `TRUNCATE "Sales Dept"."Order-Lines"`)
	rc = time(&check.RowCountOptions{Lower: "4 hours"})
	require.Equal(t, &check.RowCount{Source: orders, Dest: orders, SourceCount: 100, ControlBounds: check.ControlBounds{Control: "when"}}, rc)
}

func TestRowCountBadInput(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, ordersDDL)
	pgtest.MustExec(t, b.Dest, ordersDDL)
	missing := replication.T("Sales Dept", "nope")
	validate := func(src, dst replication.Table, o *check.RowCountOptions) error {
		_, err := check.ValidateRowCount(ctx, b.Source, b.Dest, src, dst, o)
		require.Error(t, err)
		return err
	}

	err := validate(missing, orders, nil)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	require.Contains(t, err.Error(), `"Sales Dept"."nope"`)
	require.ErrorIs(t, validate(orders, missing, nil), replication.ErrTableNotFound)

	err = validate(orders, orders, &check.RowCountOptions{Control: "When"})
	var colErr *replication.ColumnError
	require.ErrorAs(t, err, &colErr)
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.Equal(t, "When", colErr.Column)

	err = validate(orders, orders, &check.RowCountOptions{Control: "select"})
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.Contains(t, err.Error(), "not text")

	var optErr *replication.OptionError
	err = validate(orders, orders, &check.RowCountOptions{Control: "when", Lower: "ten hours"})
	require.ErrorAs(t, err, &optErr)
	require.Equal(t, "RowCountOptions.Lower", optErr.Field)
	err = validate(orders, orders, &check.RowCountOptions{Control: "Id", Upper: "1 hour"})
	require.ErrorAs(t, err, &optErr)
	require.Equal(t, "RowCountOptions.Upper", optErr.Field)
	err = validate(orders, orders, &check.RowCountOptions{Upper: "1 hour"})
	require.ErrorAs(t, err, &optErr)
	require.Equal(t, "RowCountOptions.Upper", optErr.Field)
	err = validate(orders, orders, &check.RowCountOptions{DestCondition: ", other WHERE true"})
	require.ErrorAs(t, err, &optErr)

	err = validate(orders, orders, &check.RowCountOptions{Condition: "WHERE no_such_column = 1"})
	require.ErrorIs(t, err, replication.ErrBadCondition)
	var tabErr *replication.TableError
	require.ErrorAs(t, err, &tabErr)
	require.Equal(t, orders, tabErr.Table)

	// A role that may not read the source gets ErrPrivilege naming it.
	r := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA "Sales Dept" TO `+replication.QuoteIdent(r.Name))
	weak := pgtest.Pool(t, b.DSN(b.SourceDB, r))
	_, err = check.ValidateRowCount(ctx, weak, b.Dest, orders, orders, nil)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.Contains(t, err.Error(), `GRANT SELECT ON "Sales Dept"."Order-Lines"`)
}

func TestValidateJobRowCount(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, ordersDDL)
	pgtest.MustExec(t, b.Dest, ordersDDL+`CREATE SCHEMA copies;
		CREATE TABLE copies.snap (LIKE "Sales Dept"."Order-Lines");
		CREATE TABLE copies.incr (LIKE "Sales Dept"."Order-Lines");
		CREATE TABLE copies.logdel (LIKE "Sales Dept"."Order-Lines", mimeo_source_deleted timestamptz);
		DROP SCHEMA "Sales Dept" CASCADE;`)
	// The destinations are filled with the source's rows as each job would.
	for _, q := range []string{
		`INSERT INTO copies.snap SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i - 1) * interval '1 hour', 'item ' || i, i % 7 FROM generate_series(1, 100) i WHERE i % 7 = 3`,
		`INSERT INTO copies.incr SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i - 1) * interval '1 hour', 'item ' || i, i % 7 FROM generate_series(1, 90) i`,
		`INSERT INTO copies.logdel SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i - 1) * interval '1 hour', 'item ' || i, i % 7, CASE WHEN i > 100 THEN now() END FROM generate_series(1, 105) i`,
	} {
		pgtest.MustExec(t, b.Dest, q)
	}
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM "Sales Dept"."Order-Lines" WHERE qty = 3`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM copies.snap`))
	jobs := []*replication.Job{
		{Kind: replication.KindSnapshot, Dest: replication.T("copies", "snap"), Config: json.RawMessage(`{"Condition": "WHERE qty = 3", "Columns": null}`)},
		{Kind: replication.KindInserterTime, Dest: replication.T("copies", "incr"), Config: json.RawMessage(`{"control": "when"}`)},
		{Kind: replication.KindLogDel, Dest: replication.T("copies", "logdel")},
	}
	for _, j := range jobs {
		j.SourceName, j.SourceTable = "default", orders
		require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	}

	rc, err := check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "snap"), nil)
	require.NoError(t, err)
	require.Equal(t, []int64{14, 14}, []int64{rc.SourceCount, rc.DestCount})
	require.True(t, rc.Match)

	rc, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "incr"), &check.JobRowCountOptions{Lower: "5 hours"})
	require.NoError(t, err)
	require.Equal(t, "when", rc.Control)
	require.Equal(t, []int64{5, 5}, []int64{rc.SourceCount, rc.DestCount})
	require.Equal(t, "2024-01-04 12:00:00+00", *rc.Min)

	rc, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "logdel"), nil)
	require.NoError(t, err)
	require.Equal(t, []int64{100, 100}, []int64{rc.SourceCount, rc.DestCount})

	_, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "snap"), &check.JobRowCountOptions{Lower: "1 hour"})
	require.ErrorIs(t, err, replication.ErrBadOption)
	_, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "nope"), nil)
	require.ErrorIs(t, err, replication.ErrNotManaged)

	// While a refresh holds the snapshot job's lock, validation refuses to
	// run (mimeo's behaviour); without asking for the lock it runs.
	holder, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	lock, err := replication.AcquireLock(ctx, holder, replication.T("copies", "snap"), nil)
	require.NoError(t, err)
	mine, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer mine.Release()
	_, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "snap"),
		&check.JobRowCountOptions{Lock: mine, LockWait: replication.Wait(50 * time.Millisecond)})
	require.ErrorIs(t, err, replication.ErrLocked)
	require.NoError(t, lock.Release(ctx))
	rc, err = check.ValidateJobRowCount(ctx, b.Source, b.Dest, cat, replication.T("copies", "snap"), &check.JobRowCountOptions{Lock: mine})
	require.NoError(t, err)
	require.True(t, rc.Match)
	// The validation released its lock: a refresh can take it again.
	lock, err = replication.AcquireLock(ctx, holder, replication.T("copies", "snap"), nil)
	require.NoError(t, err)
	require.NoError(t, lock.Release(ctx))
}
