package check_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

const driftDDL = `CREATE SCHEMA "Src";
CREATE TYPE "Src".mood AS ENUM ('ok', 'meh');
CREATE TABLE "Src"."T-1" (id int PRIMARY KEY, "Col1" int, col2 text, col3 timestamptz, "select" varchar(42), m "Src".mood);`

// The cases of mimeo's test91: source columns added, dropped and retyped
// show up until the destination follows; a column filter and the columns a
// job adds itself are taken into account.
func TestSourceColumnDrift(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	src := replication.T("Src", "T-1")
	pgtest.MustExec(t, b.Source, driftDDL)
	pgtest.MustExec(t, b.Dest, driftDDL+`
		CREATE TABLE "Src".filtered AS SELECT id, col2 FROM "Src"."T-1";
		CREATE TABLE "Src".logdel (LIKE "Src"."T-1", mimeo_source_deleted timestamptz);`)
	drift := func(dest string, o *check.DriftOptions) []check.ColumnDrift {
		t.Helper()
		d, err := check.SourceColumnDrift(ctx, b.Source, b.Dest, src, replication.T("Src", dest), o)
		require.NoError(t, err)
		return d
	}
	require.Nil(t, drift("T-1", nil))
	require.Nil(t, drift("filtered", &check.DriftOptions{Columns: []string{"id", "col2"}}))
	require.Nil(t, drift("logdel", &check.DriftOptions{IgnoreDest: []string{check.LogDelDeletedColumn}}))
	// Without being told, the job's own column looks dropped on the source.
	require.Equal(t, []check.ColumnDrift{{Source: src, Dest: replication.T("Src", "logdel"), Column: "mimeo_source_deleted",
		Change: check.ColumnDropped, DestType: "timestamp with time zone"}}, drift("logdel", nil))

	pgtest.MustExec(t, b.Source, `ALTER TABLE "Src"."T-1" DROP COLUMN col3;
		ALTER TABLE "Src"."T-1" ADD COLUMN col4 varchar(42);
		ALTER TABLE "Src"."T-1" ALTER COLUMN "Col1" TYPE text;
		ALTER TABLE "Src"."T-1" ALTER COLUMN "select" TYPE varchar(43);`)
	dest := replication.T("Src", "T-1")
	require.Equal(t, []check.ColumnDrift{
		{Source: src, Dest: dest, Column: "Col1", Change: check.ColumnRetyped, SourceType: "text", DestType: "integer"},
		{Source: src, Dest: dest, Column: "select", Change: check.ColumnRetyped, SourceType: "character varying(43)", DestType: "character varying(42)"},
		{Source: src, Dest: dest, Column: "col4", Change: check.ColumnAdded, SourceType: "character varying(42)"},
		{Source: src, Dest: dest, Column: "col3", Change: check.ColumnDropped, DestType: "timestamp with time zone"},
	}, drift("T-1", nil))
	require.Equal(t, `"Src"."T-1": column "col4" character varying(42) added on source "Src"."T-1"`, drift("T-1", nil)[2].String())

	// The filter hides changes to columns the job does not replicate, and
	// names a filtered column the source dropped.
	require.Nil(t, drift("filtered", &check.DriftOptions{Columns: []string{"id", "col2"}}))
	require.Equal(t, []check.ColumnDrift{
		{Source: src, Dest: replication.T("Src", "filtered"), Column: "col3", Change: check.ColumnDropped},
	}, drift("filtered", &check.DriftOptions{Columns: []string{"id", "col2", "col3"}}))

	// Once the destination follows, the drift is gone.
	pgtest.MustExec(t, b.Dest, `ALTER TABLE "Src"."T-1" DROP COLUMN col3;
		ALTER TABLE "Src"."T-1" ADD COLUMN col4 varchar(42);
		ALTER TABLE "Src"."T-1" ALTER COLUMN "Col1" TYPE text;
		ALTER TABLE "Src"."T-1" ALTER COLUMN "select" TYPE varchar(43);`)
	require.Nil(t, drift("T-1", nil))

	// A user type of another name is a retype, though its text is the same.
	pgtest.MustExec(t, b.Dest, `CREATE TYPE public.mood AS ENUM ('ok', 'meh');
		ALTER TABLE "Src"."T-1" ALTER COLUMN m TYPE public.mood USING m::text::public.mood`)
	require.Equal(t, []check.ColumnDrift{
		{Source: src, Dest: dest, Column: "m", Change: check.ColumnRetyped, SourceType: `"Src".mood`, DestType: "mood"},
	}, drift("T-1", nil))

	_, err := check.SourceColumnDrift(ctx, b.Source, b.Dest, src, replication.T("Src", "nope"), nil)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	require.Contains(t, err.Error(), `"Src"."nope"`)
}

func TestCheckSourceColumnsOverCatalog(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	src := replication.T("Src", "T-1")
	pgtest.MustExec(t, b.Source, driftDDL)
	pgtest.MustExec(t, b.Dest, driftDDL+`
		CREATE SCHEMA dst;
		CREATE TABLE dst.snap (LIKE "Src"."T-1");
		CREATE TABLE dst.filtered AS SELECT id, col2 FROM "Src"."T-1";
		CREATE TABLE dst.logdel (LIKE "Src"."T-1", mimeo_source_deleted timestamptz);
		CREATE TABLE dst.other (LIKE "Src"."T-1");`)
	for _, j := range []*replication.Job{
		{Kind: replication.KindSnapshot, SourceName: "default", Dest: replication.T("dst", "snap")},
		{Kind: replication.KindDML, SourceName: "default", Dest: replication.T("dst", "filtered"), Config: json.RawMessage(`{"columns": ["id", "col2"], "filter": ["id", "col2"]}`)},
		{Kind: replication.KindLogDel, SourceName: "default", Dest: replication.T("dst", "logdel")},
		{Kind: replication.KindSnapshot, SourceName: "elsewhere", Dest: replication.T("dst", "other")},
	} {
		j.SourceTable = src
		require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	}
	d, err := check.CheckSourceColumns(ctx, b.Source, b.Dest, cat, "")
	require.NoError(t, err)
	require.Nil(t, d)

	pgtest.MustExec(t, b.Source, `ALTER TABLE "Src"."T-1" ADD COLUMN col4 inet; ALTER TABLE "Src"."T-1" ALTER col2 TYPE varchar(9)`)
	pgtest.MustExec(t, b.Dest, `DROP TABLE dst.snap`)
	d, err = check.CheckSourceColumns(ctx, b.Source, b.Dest, cat, "default")
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	require.Contains(t, err.Error(), `"dst"."snap"`)
	require.Equal(t, []check.ColumnDrift{
		{Source: src, Dest: replication.T("dst", "filtered"), Column: "col2", Change: check.ColumnRetyped, SourceType: "character varying(9)", DestType: "text"},
		{Source: src, Dest: replication.T("dst", "logdel"), Column: "col2", Change: check.ColumnRetyped, SourceType: "character varying(9)", DestType: "text"},
		{Source: src, Dest: replication.T("dst", "logdel"), Column: "col4", Change: check.ColumnAdded, SourceType: "inet"},
	}, d)
}
