package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestSnapshotPlainTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2), placed timestamptz)`)
	pgtest.MustExec(t, b.Source, `CREATE INDEX ON public.orders (customer, placed DESC)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.orders SELECT g, 'c' || g % 17, g * 1.5, '2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 1000) g`)
	s := b.newSnap("public.orders", nil)
	require.NoError(t, s.Setup(ctx))
	b.same("SELECT * FROM public.orders", "public.orders")

	b.change(`UPDATE public.orders SET total = total + 1 WHERE id % 3 = 0`)
	b.change(`DELETE FROM public.orders WHERE id % 10 = 0`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.EqualValues(t, 900, res.Inserted)
	b.same("SELECT * FROM public.orders", "public.orders")
	require.Equal(t, "v", scalar[string](t, b.Dest, `SELECT relkind::text FROM pg_class WHERE oid = 'public.orders'::regclass`))
	// Both tables carry the source's indexes.
	for _, tbl := range []string{"orders_snap1", "orders_snap2"} {
		require.Equal(t, []string{
			"CREATE INDEX ON public." + tbl + " USING btree (customer, placed DESC)",
			"CREATE UNIQUE INDEX ON public." + tbl + " USING btree (id)",
		}, strs(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = $1::regclass`, "public."+tbl))
		require.Equal(t, []string{"p"}, strs(t, b.Dest, `SELECT contype FROM pg_constraint WHERE conrelid = $1::regclass`, "public."+tbl))
	}
}
