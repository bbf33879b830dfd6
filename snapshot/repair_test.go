package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// tamper changes, deletes and adds rows of table t on the destination.
func tamper(t *testing.T, b *bundle, table string) {
	t.Helper()
	for _, q := range []string{
		`UPDATE ` + table + ` SET note = 'tampered' WHERE id IN (17, 500, 1999)`,
		`DELETE FROM ` + table + ` WHERE id IN (3, 1200)`,
		`INSERT INTO ` + table + ` VALUES (5000, 'c', 'added'), (-1, 'c', 'added')`,
	} {
		pgtest.MustExec(t, b.Dest, q)
	}
}

// checksum validates the job of dest.
func checksum(t *testing.T, b *bundle, dest replication.Table) *check.ChecksumResult {
	t.Helper()
	res, err := check.ChecksumJob(context.Background(), b.Source, b.Dest, replication.NewCatalog(""), dest, nil)
	require.NoError(t, err)
	return res
}

// A snapshot tampered with on the destination is repaired range by range,
// in the table the view shows, to equal the source.
func TestSnapshotRepairRanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.notes (id int PRIMARY KEY, kind text NOT NULL, note text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.notes SELECT g, 'k' || g % 7, 'note ' || g FROM generate_series(1, 2000) g`)
	s := b.newSnap(t, "public.notes", nil)
	require.NoError(t, s.Setup(ctx))
	dest := replication.T("public", "notes")
	tamper(t, b, "public.notes_snap1")

	diff := checksum(t, b, dest)
	require.False(t, diff.Match)
	res, err := s.RepairRanges(ctx, diff)
	require.NoError(t, err)
	require.Positive(t, res.Inserted)
	// The ranges held as many rows on both sides in all (two rows were
	// deleted, two added), and only they were re-pulled.
	require.Equal(t, res.Deleted, res.Inserted)
	require.Less(t, res.Inserted, int64(1000))
	require.True(t, checksum(t, b, dest).Match)
	b.same(t, "SELECT * FROM public.notes", "public.notes")
	require.Equal(t, "snap1", b.active(t, "public.notes"))
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.notes_snap2`))

	// A matching check repairs nothing; another job's check is refused.
	res, err = s.RepairRanges(ctx, checksum(t, b, dest))
	require.NoError(t, err)
	require.Equal(t, replication.Result{}, res)
	other := *diff
	other.Dest = replication.T("public", "elsewhere")
	_, err = s.RepairRanges(ctx, &other)
	var oe *replication.OptionError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "diff", oe.Field)

	// After a source column change the tables are the old shape: refresh
	// first.
	pgtest.MustExec(t, b.Source, `ALTER TABLE public.notes ADD COLUMN extra int`)
	_, err = s.RepairRanges(ctx, diff)
	require.ErrorIs(t, err, replication.ErrBadOption)
}

// A table job with a row condition is repaired to equal the rows of the
// source that meet the condition.
func TestTableRepairRanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.notes (id int PRIMARY KEY, kind text NOT NULL, note text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.notes SELECT g, 'k' || g % 7, 'note ' || g FROM generate_series(1, 2000) g`)
	tbl, err := snapshot.NewTable(b.Source, b.Dest, replication.T("public", "notes"), &snapshot.TableConfig{
		Options: replication.Options{Condition: "id % 5 <> 0"}})
	require.NoError(t, err)
	require.NoError(t, tbl.Setup(ctx))
	dest := replication.T("public", "notes")
	tamper(t, b, "public.notes")

	diff := checksum(t, b, dest)
	require.False(t, diff.Match)
	_, err = tbl.RepairRanges(ctx, diff)
	require.NoError(t, err)
	require.True(t, checksum(t, b, dest).Match)
	b.same(t, "SELECT * FROM public.notes WHERE id % 5 <> 0", "public.notes")
}
