package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// columnsOf lists "name type" of every column of rel, in order.
func columnsOf(t *testing.T, b *bundle, db string, rel string) []string {
	t.Helper()
	pool := b.Dest
	if db == "source" {
		pool = b.Source
	}
	rows := strs(t, pool, `SELECT lpad(attnum::text, 3, '0') || ' ' || attname || ' ' || format_type(atttypid, atttypmod)
		FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, rel)
	for i, r := range rows {
		rows[i] = r[4:]
	}
	return rows
}

func TestSnapshotColumnChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change string
	}{
		{"add", `ALTER TABLE public.products ADD COLUMN weight real DEFAULT 1.5`},
		{"drop", `ALTER TABLE public.products DROP COLUMN note`},
		{"rename", `ALTER TABLE public.products RENAME COLUMN note TO "Remark"`},
		{"retype", `ALTER TABLE public.products ALTER COLUMN price TYPE numeric(12,3)`},
		{"nullability", `ALTER TABLE public.products ALTER COLUMN note SET NOT NULL`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.products (id int PRIMARY KEY, name text, price numeric(8,2), note text)`)
			pgtest.MustExec(t, b.Source, `CREATE INDEX products_name ON public.products (lower(name))`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.products SELECT g, 'p' || g, g / 4.0, 'n' || g FROM generate_series(1, 200) g`)
			pgtest.MustExec(t, b.Dest, `CREATE TABLE public.post_log (n serial, note text)`)
			cfg := &snapshot.Config{PostScripts: []string{
				`INSERT INTO public.post_log (note) SELECT 'ran'`,
				`CREATE INDEX extra_snap1 ON public.products_snap1 (id DESC); CREATE INDEX extra_snap2 ON public.products_snap2 (id DESC)`,
			}}
			s := b.newSnap(t, "public.products", cfg)
			require.NoError(t, s.Setup(ctx))
			_, err := s.Refresh(ctx)
			require.NoError(t, err)
			require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.post_log`), "post-scripts run only after a column change")

			b.change(t, tc.change)
			res, err := s.Refresh(ctx)
			require.NoError(t, err)
			require.False(t, res.Skipped)
			b.same(t, `SELECT * FROM public.products`, "public.products")
			want := columnsOf(t, b, "source", "public.products")
			require.Equal(t, want, columnsOf(t, b, "dest", "public.products"))
			require.Equal(t, want, columnsOf(t, b, "dest", "public.products_snap1"))
			require.Equal(t, want, columnsOf(t, b, "dest", "public.products_snap2"))
			// The source's indexes are made again on both tables, and the
			// post-scripts ran once.
			for _, tbl := range []string{"public.products_snap1", "public.products_snap2"} {
				require.Equal(t, []string{"CREATE INDEX ON " + tbl + " USING btree (id DESC)", "CREATE INDEX ON " + tbl + " USING btree (lower(name))", "CREATE UNIQUE INDEX ON " + tbl + " USING btree (id)"},
					strs(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = $1::regclass`, tbl))
			}
			require.Equal(t, []string{"ran"}, strs(t, b.Dest, `SELECT note FROM public.post_log`))

			// The next refresh is an ordinary one again, and keeps the
			// post-scripts' indexes through its drop-and-rebuild.
			b.change(t, `UPDATE public.products SET name = name || '!' WHERE id < 50`)
			res, err = s.Refresh(ctx)
			require.NoError(t, err)
			require.False(t, res.Skipped)
			b.same(t, `SELECT * FROM public.products`, "public.products")
			require.Equal(t, []string{"ran"}, strs(t, b.Dest, `SELECT note FROM public.post_log`))
			require.Equal(t, []string{"extra_snap1", "extra_snap2"},
				strs(t, b.Dest, `SELECT relname FROM pg_class WHERE relname LIKE 'extra_snap_'`))
		})
	}
}

func TestSnapshotColumnChangeKeepsPrivileges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	reader := b.CreateRole(t)
	auditor := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.stock (id int PRIMARY KEY, qty int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.stock SELECT g, g FROM generate_series(1, 30) g`)
	s := b.newSnap(t, "public.stock", nil)
	require.NoError(t, s.Setup(ctx))
	q := replication.QuoteIdent
	pgtest.MustExec(t, b.Dest, `GRANT SELECT ON public.stock TO `+q(reader.Name))
	pgtest.MustExec(t, b.Dest, `GRANT SELECT, REFERENCES ON public.stock TO `+q(auditor.Name)+` WITH GRANT OPTION`)
	pgtest.MustExec(t, b.Dest, `GRANT SELECT ON public.stock_snap1, public.stock_snap2 TO `+q(auditor.Name))
	pgtest.MustExec(t, b.Dest, `ALTER VIEW public.stock SET (security_barrier = true)`)
	pgtest.MustExec(t, b.Dest, `COMMENT ON VIEW public.stock IS 'stock, it''s replicated'`)
	privs := func() []string {
		return strs(t, b.Dest, `SELECT c.relname || ' ' || COALESCE((SELECT string_agg(format('%s:%s:%s:%s', a.grantor::regrole, a.grantee::regrole, a.privilege_type, a.is_grantable), ',' ORDER BY a.grantee::regrole::text, a.privilege_type)
			FROM aclexplode(c.relacl) a), '') || ' ' || COALESCE(array_to_string(c.reloptions, ','), '') || ' ' ||
			COALESCE(obj_description(c.oid, 'pg_class'), '') FROM pg_class c WHERE c.relname IN ('stock', 'stock_snap1', 'stock_snap2')`)
	}
	before := privs()

	b.change(t, `ALTER TABLE public.stock ADD COLUMN bin text`)
	b.change(t, `UPDATE public.stock SET bin = 'b' || id`)
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT * FROM public.stock`, "public.stock")
	require.Equal(t, before, privs())
	// An ordinary refresh keeps them too.
	b.change(t, `UPDATE public.stock SET qty = -qty`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	b.same(t, `SELECT * FROM public.stock`, "public.stock")
	require.Equal(t, before, privs())
	// The reader still reads the view, new column included.
	rp := pgtest.Pool(t, b.DSN(b.DestDB, reader))
	require.Equal(t, "b7", scalar[string](t, rp, `SELECT bin FROM public.stock WHERE id = 7`))
	_, err = rp.Exec(ctx, `SELECT * FROM public.stock_snap1`)
	require.ErrorContains(t, err, "permission denied")
}

func TestSnapshotDestroy(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		name := "drop"
		if keep {
			name = "keep"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			reader := b.CreateRole(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.cities (id int PRIMARY KEY, name text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.cities SELECT g, 'city ' || g FROM generate_series(1, 40) g`)
			s := b.newSnap(t, "public.cities", nil)
			require.NoError(t, s.Setup(ctx))
			b.change(t, `DELETE FROM public.cities WHERE id > 30`)
			_, err := s.Refresh(ctx)
			require.NoError(t, err)
			pgtest.MustExec(t, b.Dest, `GRANT SELECT ON public.cities TO `+replication.QuoteIdent(reader.Name))

			require.NoError(t, s.Destroy(ctx, &replication.DestroyOptions{KeepTable: keep}))
			require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM mimeo.jobs`))
			rels := strs(t, b.Dest, `SELECT relname || ':' || relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace`)
			if !keep {
				require.Equal(t, []string{}, rels)
			} else {
				require.Equal(t, []string{"cities:r", "cities_pkey:i"}, rels)
				require.Equal(t, []string{"cities_pkey"}, strs(t, b.Dest, `SELECT conname FROM pg_constraint WHERE conrelid = 'public.cities'::regclass`))
				b.same(t, `SELECT * FROM public.cities`, "public.cities")
				rp := pgtest.Pool(t, b.DSN(b.DestDB, reader))
				require.EqualValues(t, 30, scalar[int64](t, rp, `SELECT count(*) FROM public.cities`))
			}
			_, err = s.Refresh(ctx)
			require.ErrorIs(t, err, replication.ErrNotManaged)
		})
	}
}
