package check_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// mimeo's test91 case: a table that appears on the source is reported until
// a job replicates it.
func TestUnreplicatedTables(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Src";
		CREATE TABLE "Src"."A" (id int PRIMARY KEY);
		CREATE TABLE "Src".b (id int PRIMARY KEY);
		CREATE VIEW "Src"."A view" AS SELECT * FROM "Src"."A";
		CREATE MATERIALIZED VIEW "Src".mv AS SELECT * FROM "Src".b;
		CREATE TABLE "Src".parted (id int, at date) PARTITION BY RANGE (at);
		CREATE TABLE "Src".parted_2024 PARTITION OF "Src".parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
		CREATE SCHEMA queues; CREATE TABLE queues.q (id int);
		CREATE TEMP TABLE scratch (id int);`)
	for _, j := range []*replication.Job{
		{Kind: replication.KindSnapshot, SourceName: "default", SourceTable: replication.T("Src", "A"), Dest: replication.T("Src", "A")},
		{Kind: replication.KindDML, SourceName: "default", SourceTable: replication.T("Src", "parted"), Dest: replication.T("Src", "parted")},
		{Kind: replication.KindSnapshot, SourceName: "other", SourceTable: replication.T("Src", "b"), Dest: replication.T("Src", "b")},
	} {
		require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	}
	list := func(name string, o *check.UnreplicatedOptions) []check.SourceRelation {
		t.Helper()
		got, err := check.UnreplicatedTables(ctx, b.Source, b.Dest, cat, name, o)
		require.NoError(t, err)
		return got
	}
	require.Equal(t, []check.SourceRelation{
		{Table: replication.T("Src", "b"), Kind: replication.KindTable},
		{Table: replication.T("queues", "q"), Kind: replication.KindTable},
	}, list("", nil))
	require.Equal(t, []check.SourceRelation{
		{Table: replication.T("Src", "A"), Kind: replication.KindTable},
		{Table: replication.T("Src", "parted"), Kind: replication.KindPartitioned},
	}, list("other", &check.UnreplicatedOptions{ExcludeSchemas: []string{"queues"}}))
	require.Equal(t, []check.SourceRelation{
		{Table: replication.T("Src", "A view"), Kind: replication.KindView},
		{Table: replication.T("Src", "b"), Kind: replication.KindTable},
		{Table: replication.T("Src", "mv"), Kind: replication.KindMatView},
		{Table: replication.T("Src", "parted_2024"), Kind: replication.KindTable},
	}, list("default", &check.UnreplicatedOptions{Views: true, Partitions: true, ExcludeSchemas: []string{"queues"}}))

	// A brand-new source table shows up; once a job replicates it, it is gone.
	pgtest.MustExec(t, b.Source, `CREATE TABLE "Src"."brand new table" (id serial, stuff text)`)
	require.Equal(t, []check.SourceRelation{
		{Table: replication.T("Src", "b"), Kind: replication.KindTable},
		{Table: replication.T("Src", "brand new table"), Kind: replication.KindTable},
	}, list("", &check.UnreplicatedOptions{ExcludeSchemas: []string{"queues"}}))
	require.NoError(t, cat.CreateJob(ctx, b.Dest, &replication.Job{Kind: replication.KindTableReload, SourceName: "default",
		SourceTable: replication.T("Src", "brand new table"), Dest: replication.T("Src", "brand new table")}))
	require.NoError(t, cat.CreateJob(ctx, b.Dest, &replication.Job{Kind: replication.KindTableReload, SourceName: "default",
		SourceTable: replication.T("Src", "b"), Dest: replication.T("copy", "b")}))
	require.Nil(t, list("", &check.UnreplicatedOptions{ExcludeSchemas: []string{"queues"}}))

	_, err := check.UnreplicatedTables(ctx, b.Source, b.Dest, replication.NewCatalog("no catalog"), "", nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), `"no catalog"`)
}
