package export_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// The destination has a column the source lacks: it is kept on updates and
// takes its default on inserts.
func TestExtraDestinationColumns(t *testing.T) {
	b := setup(t, items, itemsDDL,
		`CREATE TABLE public.items (local_flag text DEFAULT 'new', id bigint PRIMARY KEY, name text NOT NULL, qty int, note text, seen_at timestamptz)`,
		itemsFill, nil)
	b.ship(t, targetA)
	b.same(t, itemsRows)
	pgtest.MustExec(t, b.Dest, `UPDATE public.items SET local_flag = 'mine' WHERE id <= 3`)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = -1 WHERE id IN (1, 2)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.items (name) VALUES ('fresh')`)
	b.ship(t, targetA)
	b.same(t, itemsRows)
	require.Equal(t, []string{"(1,mine)", "(2,mine)", "(201,new)", "(3,mine)"},
		pgtest.Rows(t, b.Dest, `SELECT id, local_flag FROM public.items WHERE id IN (1, 2, 3, 201)`))
}

// A batch that never arrives is covered by the next export, which holds
// every change since the last acknowledged batch.
func TestLostBatchResent(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = 'lost change' WHERE id = 1`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.items WHERE id = 2`)
	lost := b.export(t, targetA)
	require.NoError(t, os.RemoveAll(lost.Dir)) // lost on the way
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = 'later change' WHERE id = 3`)
	ex, im := b.ship(t, targetA)
	require.Equal(t, int64(3), ex.Manifest.Batch)
	require.Equal(t, int64(1), ex.Manifest.Since)
	require.Equal(t, export.Counts{Updated: 2, Deleted: 1}, im.Counts)
	b.same(t, itemsRows)
	// The lost batch's acknowledgement can no longer move the position.
	ok, err := b.ex.Confirm(ctx, targetA, 2)
	require.NoError(t, err)
	require.False(t, ok)
}

// An export that is not acknowledged is sent again, whole, in the next one.
func TestUnacknowledgedBatchRepeated(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = 'first' WHERE id = 1`)
	first := b.export(t, targetA)
	_, err := b.im.Import(ctx, first.Dir) // applied, but the ack never comes back
	require.NoError(t, err)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = 'second' WHERE id = 2`)
	second := b.export(t, targetA)
	require.Equal(t, int64(1), second.Manifest.Since)
	require.Equal(t, int64(2), second.Manifest.IDs.Rows)
	im, err := b.im.Import(ctx, second.Dir)
	require.NoError(t, err)
	require.Equal(t, export.Counts{Updated: 1}, im.Counts) // row 1 is already right
	b.same(t, itemsRows)
}

// Importing a batch twice changes nothing, not even the rows' versions.
func TestDuplicateImportChangesNothing(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 0 WHERE id < 50`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.items WHERE id > 190`)
	res := b.export(t, targetA)
	first, err := b.im.Import(ctx, res.Dir)
	require.NoError(t, err)
	require.False(t, first.AlreadyApplied)
	const versions = `SELECT id, xmin::text, ctid::text FROM public.items`
	before := pgtest.Rows(t, b.Dest, versions)
	record := pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`)
	again, err := b.im.Import(ctx, res.Dir)
	require.NoError(t, err)
	require.True(t, again.AlreadyApplied)
	require.Equal(t, export.Counts{}, again.Counts)
	require.Equal(t, before, pgtest.Rows(t, b.Dest, versions))
	require.Equal(t, record, pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`))
	b.same(t, itemsRows)
	// The acknowledgement is written again and still accepted once.
	ok, err := b.ex.Acknowledge(ctx, again.AckPath)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.ex.Acknowledge(ctx, first.AckPath)
	require.NoError(t, err)
	require.False(t, ok)
}

// A corrupt, incomplete, stale or out-of-order batch is refused with a
// typed error and nothing is applied.
func TestBadBatchesRefused(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 7 WHERE id <= 100`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.items WHERE id > 150`)
	res := b.export(t, targetA)
	destRows := pgtest.Rows(t, b.Dest, itemsRows)
	record := pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`)
	unchanged := func() {
		t.Helper()
		require.Equal(t, destRows, pgtest.Rows(t, b.Dest, itemsRows))
		require.Equal(t, record, pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`))
	}
	corrupt := func(name string, change func(p []byte) []byte) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), filepath.Base(res.Dir))
		require.NoError(t, os.CopyFS(dir, os.DirFS(res.Dir)))
		if change != nil {
			p, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), change(p), 0o644))
		} else {
			require.NoError(t, os.Remove(filepath.Join(dir, name)))
		}
		return dir
	}
	for _, c := range []struct {
		name string
		dir  string
	}{
		{"flipped byte in rows", corrupt(export.RowsFile, func(p []byte) []byte { p[len(p)/2] ^= 1; return p })},
		{"truncated rows", corrupt(export.RowsFile, func(p []byte) []byte { return p[:len(p)-10] })},
		{"extra id", corrupt(export.IDsFile, func(p []byte) []byte { return append(p, "12345\n"...) })},
		{"missing ids", corrupt(export.IDsFile, nil)},
		{"columns changed", corrupt(export.ColumnsFile, func(p []byte) []byte { return append(p, "extra,text\n"...) })},
		{"missing manifest", corrupt(export.ManifestFile, nil)},
		{"manifest garbled", corrupt(export.ManifestFile, func(p []byte) []byte { return p[:20] })},
	} {
		_, err := b.im.Import(ctx, c.dir)
		var be *export.BatchError
		require.ErrorAs(t, err, &be, c.name)
		require.ErrorIs(t, err, export.ErrCorrupt, c.name)
		unchanged()
	}

	// A batch that builds on one the destination has not applied: batch 2
	// is confirmed by the caller but never imported.
	ok, err := b.ex.Confirm(ctx, targetA, res.Manifest.Batch)
	require.NoError(t, err)
	require.True(t, ok)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 8 WHERE id = 1`)
	next := b.export(t, targetA)
	require.Equal(t, int64(2), next.Manifest.Since)
	_, err = b.im.Import(ctx, next.Dir)
	require.ErrorIs(t, err, export.ErrOutOfOrder)
	require.ErrorContains(t, err, "builds on batch 2, the destination has applied batch 1")
	unchanged()

	// In order, both apply; then the older one is refused.
	_, err = b.im.Import(ctx, res.Dir)
	require.NoError(t, err)
	_, err = b.im.Import(ctx, next.Dir)
	require.NoError(t, err)
	b.same(t, itemsRows)
	_, err = b.im.Import(ctx, res.Dir)
	require.ErrorIs(t, err, export.ErrOutOfOrder)

	// A batch for another target, when the importer takes one target only.
	only, err := export.NewImporter(b.Dest, &export.ImporterConfig{Target: targetB})
	require.NoError(t, err)
	_, err = only.Import(ctx, next.Dir)
	require.ErrorIs(t, err, export.ErrWrongStream)
}

// Two targets keep their own positions: one that is behind gets
// everything since its own acknowledged batch.
func TestTwoTargetsAtDifferentPositions(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	destB, dsnB := b.NewDatabase(t)
	poolB := pgtest.Pool(t, dsnB)
	_ = destB
	pgtest.MustExec(t, poolB, itemsDDL)
	imB, err := export.NewImporter(poolB, &export.ImporterConfig{Target: targetB})
	require.NoError(t, err)
	require.NoError(t, imB.Install(ctx))
	dirB := t.TempDir()
	shipB := func() *export.ExportResult {
		t.Helper()
		res, err := b.ex.Export(ctx, targetB, dirB)
		require.NoError(t, err)
		im, err := imB.Import(ctx, res.Dir)
		require.NoError(t, err)
		ok, err := b.ex.Acknowledge(ctx, im.AckPath)
		require.NoError(t, err)
		require.True(t, ok)
		return res
	}

	b.ship(t, targetA)
	shipB()
	for i := 0; i < 3; i++ {
		pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = qty + 1 WHERE id % 10 = $1`, i)
		b.ship(t, targetA)
	}
	b.same(t, itemsRows)
	states, err := b.ex.Targets(ctx)
	require.NoError(t, err)
	require.Len(t, states, 2)
	require.Equal(t, targetA, states[0].Target)
	require.Equal(t, int64(4), states[0].AckedBatch)
	require.Equal(t, targetB, states[1].Target)
	require.Equal(t, int64(1), states[1].AckedBatch)
	// B still needs the shadow entries A no longer does.
	require.Equal(t, []string{"(60)"}, pgtest.Rows(t, b.Source, `SELECT count(*) FROM `+export.ShadowTable("mimeo_export", items).Sanitize()))
	require.NotEqual(t, pgtest.Rows(t, b.Source, itemsRows), pgtest.Rows(t, poolB, itemsRows))

	res := shipB()
	require.Equal(t, int64(1), res.Manifest.Since)
	require.Equal(t, int64(60), res.Manifest.IDs.Rows)
	require.Equal(t, pgtest.Rows(t, b.Source, itemsRows), pgtest.Rows(t, poolB, itemsRows))
	// With both positions past them, the next export purges the entries.
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 0 WHERE id = 1`)
	b.ship(t, targetA)
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Source, `SELECT count(*) FROM `+export.ShadowTable("mimeo_export", items).Sanitize()))
}

// A change made by a transaction that commits after an export read its
// snapshot is in the next batch, even though it began earlier.
func TestChangeCommittedDuringExport(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	tx, err := b.Source.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE public.items SET name = 'slow writer' WHERE id = 42`)
	require.NoError(t, err)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = 'quick writer' WHERE id = 43`)
	ex, _ := b.ship(t, targetA)
	require.Equal(t, int64(1), ex.Manifest.IDs.Rows)
	require.NoError(t, tx.Commit(ctx))
	ex, _ = b.ship(t, targetA)
	require.Equal(t, int64(1), ex.Manifest.IDs.Rows)
	b.same(t, itemsRows)
}

// Reset returns a target to a full export, which repairs a destination
// that went astray; acknowledgements from before the reset are ignored.
func TestResetForcesFullExport(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 1 WHERE id = 1`)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 2 WHERE id = 2`)
	pending := b.export(t, targetA)
	// The destination goes astray.
	pgtest.MustExec(t, b.Dest, `DELETE FROM public.items WHERE id BETWEEN 100 AND 120`)
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.items VALUES (9999, 'stray', 0, NULL)`)

	ok, err := b.ex.Reset(ctx, targetA)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.ex.Confirm(ctx, targetA, pending.Manifest.Batch)
	require.NoError(t, err)
	require.False(t, ok, "a batch exported before the reset does not count")
	ex, im := b.ship(t, targetA)
	require.True(t, ex.Manifest.Full)
	require.Equal(t, int64(4), ex.Manifest.Batch)
	require.Equal(t, int64(200), im.Counts.Inserted)
	b.same(t, itemsRows)
	// Then incremental again.
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = 3 WHERE id = 3`)
	ex, _ = b.ship(t, targetA)
	require.False(t, ex.Manifest.Full)
	b.same(t, itemsRows)
	// A target never exported to has nothing to reset.
	ok, err = b.ex.Reset(ctx, targetB)
	require.NoError(t, err)
	require.False(t, ok)
}

// Names with quotes, spaces, backslashes and other special characters
// work for the schema, the table, the columns and a key that is not "id";
// values with tabs, newlines and backslashes survive the files.
func TestSpecialNames(t *testing.T) {
	table := replication.T(`Odd "Sch" \x`, `it's a-table; DROP`)
	ddl := `CREATE SCHEMA "Odd ""Sch"" \x";
		CREATE TABLE "Odd ""Sch"" \x"."it's a-table; DROP" ("Key \ Col" int PRIMARY KEY, "Weird ""Col""" text, "select" jsonb, "ÄÖ" numeric)`
	fill := `INSERT INTO "Odd ""Sch"" \x"."it's a-table; DROP" SELECT g, E'tab\there\nnew line \\ back ' || g, jsonb_build_object('k', g), g / 3.0 FROM generate_series(1, 50) g`
	b := setup(t, table, ddl, "", fill, &export.ExporterConfig{Key: `Key \ Col`, Schema: `exp "schema"`})
	rows := `SELECT * FROM "Odd ""Sch"" \x"."it's a-table; DROP"`
	b.ship(t, targetA)
	b.same(t, rows)
	pgtest.MustExec(t, b.Source, `UPDATE "Odd ""Sch"" \x"."it's a-table; DROP" SET "Weird ""Col""" = E'\\N \r\n' WHERE "Key \ Col" < 5`)
	pgtest.MustExec(t, b.Source, `DELETE FROM "Odd ""Sch"" \x"."it's a-table; DROP" WHERE "Key \ Col" > 45`)
	ex, _ := b.ship(t, targetA)
	require.Contains(t, filepath.Base(ex.Dir), "Odd__Sch___x_it_s_a-table__DROP-")
	b.same(t, rows)
	ok, err := b.ex.Reset(ctx, targetA)
	require.NoError(t, err)
	require.True(t, ok)
	ex, _ = b.ship(t, targetA)
	require.True(t, ex.Manifest.Full)
	b.same(t, rows)
	require.NoError(t, b.ex.Uninstall(ctx))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`))
}
