package export_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// killSwitch makes a trigger on table (on db) that terminates its own
// session while the flag table says so: a connection lost in the middle
// of an export or an import.
const killSwitch = `CREATE TABLE public.kill (on_ boolean);
	INSERT INTO public.kill VALUES (true);
	CREATE FUNCTION public.die() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF (SELECT on_ FROM public.kill) THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
		RETURN NULL;
	END $$;`

// An import whose session is terminated mid-way applies nothing and writes
// no acknowledgement; importing again applies the batch.
func TestImportTerminatedMidway(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Dest, killSwitch+`CREATE TRIGGER die AFTER UPDATE ON public.items FOR EACH STATEMENT EXECUTE FUNCTION public.die()`)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET qty = -qty WHERE id % 2 = 0; DELETE FROM public.items WHERE id < 20`)
	res := b.export(t, targetA)
	before := pgtest.Rows(t, b.Dest, itemsRows)
	record := pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`)
	_, err := b.im.Import(ctx, res.Dir)
	require.Error(t, err)
	require.Equal(t, before, pgtest.Rows(t, b.Dest, itemsRows))
	require.Equal(t, record, pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo_import.applied_batch`))
	_, err = os.Stat(b.im.AckPath(res.Dir))
	require.ErrorIs(t, err, os.ErrNotExist)

	pgtest.MustExec(t, b.Dest, `UPDATE public.kill SET on_ = false`)
	r, err := b.im.Import(ctx, res.Dir)
	require.NoError(t, err)
	require.False(t, r.AlreadyApplied)
	_, err = b.ex.Acknowledge(ctx, r.AckPath)
	require.NoError(t, err)
	b.same(t, itemsRows)
}

// An export whose session is terminated before it committed records no
// batch and publishes no directory; the next export holds its changes
// under the same number.
func TestExportTerminatedMidway(t *testing.T) {
	b := setup(t, items, itemsDDL, "", itemsFill, nil)
	b.ship(t, targetA)
	pgtest.MustExec(t, b.Source, killSwitch+`CREATE TRIGGER die AFTER INSERT ON mimeo_export.export_batch FOR EACH STATEMENT EXECUTE FUNCTION public.die()`)
	pgtest.MustExec(t, b.Source, `UPDATE public.items SET name = upper(name) WHERE id > 150`)
	_, err := b.ex.Export(ctx, targetA, b.dir)
	require.Error(t, err)
	left, err := filepath.Glob(filepath.Join(b.dir, "*"))
	require.NoError(t, err)
	require.Len(t, left, 2, "only batch 1 and its acknowledgement: %v", left)
	tmp, err := filepath.Glob(filepath.Join(b.dir, ".pgmimeo-tmp-*"))
	require.NoError(t, err)
	require.Empty(t, tmp)
	states, err := b.ex.Targets(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), states[0].LastBatch)

	pgtest.MustExec(t, b.Source, `UPDATE public.kill SET on_ = false`)
	ex, im := b.ship(t, targetA)
	require.Equal(t, int64(2), ex.Manifest.Batch)
	require.Equal(t, int64(50), im.Counts.Updated)
	b.same(t, itemsRows)
}
