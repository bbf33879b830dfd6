package check_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

func TestMonitorSnapshots(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Src";
		CREATE TABLE "Src".small (id int PRIMARY KEY, pad text);
		CREATE TABLE "Src"."Big" (id int PRIMARY KEY, pad text);
		CREATE TABLE "Src".wide (id int PRIMARY KEY, pad text);
		INSERT INTO "Src".small SELECT i, 'x' FROM generate_series(1, 10) i;
		INSERT INTO "Src"."Big" SELECT i, 'x' FROM generate_series(1, 5000) i;
		INSERT INTO "Src".wide SELECT i, (SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 200) j) FROM generate_series(1, 300) i;`)
	for _, j := range []*replication.Job{
		{Kind: replication.KindSnapshot, SourceTable: replication.T("Src", "small"), Dest: replication.T("d", "small")},
		{Kind: replication.KindTableReload, SourceTable: replication.T("Src", "Big"), Dest: replication.T("d", "Big")},
		{Kind: replication.KindSnapshot, SourceTable: replication.T("Src", "wide"), Dest: replication.T("d", "wide")},
		{Kind: replication.KindDML, SourceTable: replication.T("Src", "Big"), Dest: replication.T("d", "big dml")},
	} {
		j.SourceName = "default"
		require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	}
	sizes := map[string]int64{}
	for _, n := range []string{"small", "Big", "wide"} {
		var s int64
		require.NoError(t, b.Source.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass)`, replication.T("Src", n).Sanitize()).Scan(&s))
		sizes[n] = s
	}
	require.Greater(t, sizes["wide"], sizes["Big"], "the wide table must be the largest for this test")

	monitor := func(th *check.SizeThresholds, dests ...replication.Table) []string {
		t.Helper()
		got, err := check.MonitorSnapshots(ctx, b.Source, b.Dest, cat, "", th, dests...)
		require.NoError(t, err)
		var out []string
		for _, s := range got {
			require.Equal(t, sizes[s.Source.Name], s.Bytes)
			out = append(out, s.Dest.Name)
		}
		return out
	}
	// Destination order: "Big", small, wide; the DML job is never measured.
	require.Equal(t, []string{"Big", "small", "wide"}, monitor(nil))
	require.Equal(t, []string{"Big"}, monitor(&check.SizeThresholds{Rows: 1000}))
	require.Equal(t, []string{"wide"}, monitor(&check.SizeThresholds{Bytes: sizes["Big"] + 1}))
	require.Equal(t, []string{"Big", "wide"}, monitor(&check.SizeThresholds{Rows: 1000, Bytes: sizes["Big"] + 1}))
	require.Nil(t, monitor(&check.SizeThresholds{Rows: 10000, Bytes: sizes["wide"] + 1}))
	require.Equal(t, []string{"small"}, monitor(nil, replication.T("d", "small")))

	got, err := check.SourceSizes(ctx, b.Source, []replication.Table{replication.T("Src", "Big"), replication.T("Src", "small")}, &check.SizeThresholds{Rows: 10})
	require.NoError(t, err)
	require.Equal(t, []check.SourceSize{
		{Source: replication.T("Src", "Big"), Rows: 5000, Bytes: sizes["Big"]},
		{Source: replication.T("Src", "small"), Rows: 10, Bytes: sizes["small"]},
	}, got)

	_, err = check.MonitorSnapshots(ctx, b.Source, b.Dest, cat, "", nil, replication.T("d", "big dml"))
	require.ErrorIs(t, err, replication.ErrNotManaged)
	_, err = check.SourceSizes(ctx, b.Source, []replication.Table{replication.T("Src", "gone")}, nil)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	_, err = check.SourceSizes(ctx, b.Source, nil, &check.SizeThresholds{Bytes: -1})
	var optErr *replication.OptionError
	require.ErrorAs(t, err, &optErr)
	require.Equal(t, "SizeThresholds.Bytes", optErr.Field)
}
