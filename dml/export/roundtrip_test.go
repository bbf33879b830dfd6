package export_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

const itemsDDL = `CREATE TABLE public.items (id bigserial PRIMARY KEY, name text NOT NULL, qty int, note text)`
const itemsFill = `INSERT INTO public.items (name, qty, note) SELECT 'item ' || g, g, CASE WHEN g % 3 = 0 THEN NULL ELSE E'n\t' || g END FROM generate_series(1, 200) g`
const itemsRows = `SELECT id, name, qty, note FROM public.items`

var items = replication.T("public", "items")

// The first batch is full; later ones carry inserts, updates and deletes.
func TestRoundTrip(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	ex, im := b.ship(t, targetA)
	require.True(t, ex.Manifest.Full)
	require.Equal(t, int64(1), ex.Manifest.Batch)
	require.Equal(t, int64(200), ex.Manifest.Rows.Rows)
	require.Equal(t, export.Counts{Inserted: 200}, im.Counts)
	b.same(t, itemsRows)

	pgtest.MustExec(t, b.Source, `INSERT INTO public.items (name, qty) VALUES ('new 1', 1), ('new 2', 2)`)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = qty + 1000 WHERE id IN (5, 6, 7)`)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET note = 'twice' WHERE id = 5`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.items WHERE id IN (10, 11)`)
	// Inserted and deleted between two exports: nothing to do for it.
	pgtest.MustExec(t, b.Source, `INSERT INTO public.items (name) VALUES ('short-lived')`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.items WHERE name = 'short-lived'`)
	// A key change: the old key is deleted, the new one inserted.
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET id = 100000 WHERE id = 20`)
	ex, im = b.ship(t, targetA)
	require.False(t, ex.Manifest.Full)
	require.Equal(t, int64(1), ex.Manifest.Since)
	require.Equal(t, int64(2), ex.Manifest.Batch)
	require.Equal(t, int64(10), ex.Manifest.IDs.Rows) // 2 new, 5, 6, 7, 10, 11, short-lived, 20 and 100000
	require.Equal(t, export.Counts{Inserted: 3, Updated: 3, Deleted: 3}, im.Counts)
	b.same(t, itemsRows)

	// Nothing changed: nothing to send.
	res := b.export(t, targetA)
	require.True(t, res.Skipped)
}
