package snapshot_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func (b *bundle) newTable(t testing.TB, src string, cfg *snapshot.TableConfig) *snapshot.Table {
	t.Helper()
	tb, err := snapshot.NewTable(b.Source, b.Dest, replication.MustParseTable(src), cfg)
	require.NoError(t, err)
	return tb
}

func TestTableNeedsOnlySelect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.customers (id int PRIMARY KEY, email text UNIQUE, name text, born date)`)
	pgtest.MustExec(t, b.Source, `CREATE INDEX ON public.customers (name) WHERE born IS NOT NULL`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.customers SELECT g, 'c' || g || '@example.com', 'name ' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE date '1970-01-01' + g END FROM generate_series(1, 2000) g`)
	r := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON public.customers TO `+replication.QuoteIdent(r.Name))
	log := &memLog{}
	tb, err := snapshot.NewTable(pgtest.Pool(t, b.DSN(b.SourceDB, r)), b.Dest, replication.T("public", "customers"),
		&snapshot.TableConfig{Options: replication.Options{JobLog: log}})
	require.NoError(t, err)
	require.NoError(t, tb.Setup(ctx))
	b.same(t, `SELECT * FROM public.customers`, "public.customers")
	require.Equal(t, "r", scalar[string](t, b.Dest, `SELECT relkind::text FROM pg_class WHERE oid = 'public.customers'::regclass`))
	idx := func() []string {
		return strs(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = 'public.customers'::regclass`)
	}
	wantIdx := []string{
		"CREATE INDEX ON public.customers USING btree (name) WHERE (born IS NOT NULL)",
		"CREATE UNIQUE INDEX ON public.customers USING btree (email)",
		"CREATE UNIQUE INDEX ON public.customers USING btree (id)",
	}
	require.Equal(t, wantIdx, idx())
	require.Equal(t, []string{"p", "u"}, strs(t, b.Dest, `SELECT contype FROM pg_constraint WHERE conrelid = 'public.customers'::regclass`))

	pgtest.MustExec(t, b.Source, `UPDATE public.customers SET name = upper(name) WHERE id % 5 = 0`)
	pgtest.MustExec(t, b.Source, `DELETE FROM public.customers WHERE id > 1900`)
	// Rows added on the destination by hand go: the table is reloaded.
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.customers (id) VALUES (-1)`)
	res, err := tb.Refresh(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1900, res.Inserted)
	b.same(t, `SELECT * FROM public.customers`, "public.customers")
	require.Equal(t, wantIdx, idx())
	// A table job always pulls.
	res, err = tb.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.EqualValues(t, 1900, res.Inserted)
	require.Equal(t, []string{
		"Table Maker: public.customers [OK] Checking source \"public\".\"customers\": OK; Checking destination \"public\".\"customers\": OK; " +
			"Loading \"public\".\"customers\": OK; Creating indexes on \"public\".\"customers\": OK",
		"Refresh Table: public.customers [OK] Reading source \"public\".\"customers\": OK; Truncating \"public\".\"customers\": OK; " +
			"Loading \"public\".\"customers\": OK; Building indexes of \"public\".\"customers\": OK",
		"Refresh Table: public.customers [OK] Reading source \"public\".\"customers\": OK; Truncating \"public\".\"customers\": OK; " +
			"Loading \"public\".\"customers\": OK; Building indexes of \"public\".\"customers\": OK",
	}, log.summary())
}

func TestTableFilterAndCondition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.sessions (id int PRIMARY KEY, user_id int, token text, active bool)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.sessions SELECT g, g % 10, md5(g::text), g % 3 = 0 FROM generate_series(1, 300) g`)
	tb := b.newTable(t, "public.sessions", &snapshot.TableConfig{Options: replication.Options{
		Columns: []string{"id", "user_id", "active"}, SkipIndexes: true, Condition: "WHERE active",
		Dest: replication.T("public", "active_sessions")}})
	require.NoError(t, tb.Setup(ctx))
	b.same(t, `SELECT id, user_id, active FROM public.sessions WHERE active`, "public.active_sessions")
	pgtest.MustExec(t, b.Source, `UPDATE public.sessions SET active = NOT active WHERE id < 30`)
	_, err := tb.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT id, user_id, active FROM public.sessions WHERE active`, "public.active_sessions")
}

func TestTableCascadeAndSequences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.customers (id int PRIMARY KEY, name text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.customers SELECT g * 3, 'c' || g FROM generate_series(1, 40) g`)
	// A development database: the table exists with a serial key, another
	// table references it, and a third table draws from the same sequence.
	pgtest.MustExec(t, b.Dest, `CREATE TABLE public.customers (id serial PRIMARY KEY, name text, local_note text DEFAULT 'dev')`)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE public.customers_archive (id int DEFAULT nextval('public.customers_id_seq'), name text)`)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE public.orders (id int GENERATED ALWAYS AS IDENTITY, customer_id int REFERENCES public.customers (id))`)
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.customers (name) SELECT 'local' FROM generate_series(1, 5)`)
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.orders (customer_id) VALUES (1), (2)`)
	seq := replication.T("public", "customers_id_seq")
	ordersSeq := replication.T("public", "orders_id_seq")

	// Without cascade the referenced table cannot be truncated: setup says so
	// and changes nothing.
	noCascade := b.newTable(t, "public.customers", &snapshot.TableConfig{Options: replication.Options{AdoptDest: true}, Sequences: []replication.Table{seq}})
	err := noCascade.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrBadOption)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, replication.T("public", "customers"), te.Table)
	require.Contains(t, te.Fix, "TruncateCascade")
	require.EqualValues(t, 5, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.customers`))
	require.EqualValues(t, 2, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.orders`))
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM mimeo.jobs`))

	tb := b.newTable(t, "public.customers", &snapshot.TableConfig{Options: replication.Options{AdoptDest: true}, TruncateCascade: true,
		Sequences: []replication.Table{seq, ordersSeq}})
	require.NoError(t, tb.Setup(ctx))
	b.same(t, `SELECT id, name FROM public.customers`, "(SELECT id, name FROM public.customers) c")
	require.Equal(t, []string{"dev"}, strs(t, b.Dest, `SELECT DISTINCT local_note FROM public.customers`))
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.orders`), "the cascade emptied the referencing table")
	require.EqualValues(t, 121, scalar[int64](t, b.Dest, `SELECT nextval('public.customers_id_seq')`))

	// The sequence is reset to the highest value in any column using it.
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.customers_archive VALUES (500, 'old')`)
	pgtest.MustExec(t, b.Dest, `INSERT INTO public.orders (customer_id) VALUES (3), (6)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.customers VALUES (200, 'new')`)
	res, err := tb.Refresh(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 41, res.Inserted)
	b.same(t, `SELECT id, name FROM public.customers`, "(SELECT id, name FROM public.customers) c")
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.orders`))
	require.EqualValues(t, 501, scalar[int64](t, b.Dest, `SELECT nextval('public.customers_id_seq')`))
	// The identity sequence's table is empty: it is left as it was.
	require.EqualValues(t, 5, scalar[int64](t, b.Dest, `SELECT nextval('public.orders_id_seq')`))
	// The key the foreign key needs stayed in place through the reload.
	require.Equal(t, []string{"FOREIGN KEY (customer_id) REFERENCES customers(id)"},
		strs(t, b.Dest, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.orders'::regclass`))
}

func TestTableBadInput(t *testing.T) {
	t.Parallel()
	cases := append([]badCase{
		{name: "unknown sequence", src: "public.orders", table: replication.T("public", "orders_seq"), sentinel: replication.ErrTableNotFound},
		{name: "adopted table lacks a column", src: "public.orders", table: replication.T("public", "orders"), column: "total",
			sentinel: replication.ErrColumnNotFound, prepare: func(t *testing.T, b *bundle) {
				pgtest.MustExec(t, b.Dest, `CREATE TABLE public.orders (id int)`)
			}},
		{name: "adopting a view", src: "public.orders", table: replication.T("public", "orders"), sentinel: replication.ErrExists,
			prepare: func(t *testing.T, b *bundle) {
				pgtest.MustExec(t, b.Dest, `CREATE VIEW public.orders AS SELECT 1 AS id, 2 AS total`)
			}},
	}, badCases...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id int PRIMARY KEY, total int)`)
			if tc.prepare != nil {
				tc.prepare(t, b)
			}
			srcBefore, destBefore := objects(t, b, "source"), objects(t, b, "dest")
			cfg := &snapshot.TableConfig{Options: tc.cfg}
			switch tc.name {
			case "unknown sequence":
				cfg.Sequences = []replication.Table{replication.T("public", "orders_seq")}
			case "adopted table lacks a column", "adopting a view":
				cfg.AdoptDest = true
			}
			tb, err := snapshot.NewTable(b.Source, b.Dest, replication.MustParseTable(tc.src), cfg)
			require.NoError(t, err)
			checkBadInput(t, tb.Setup(context.Background()), tc)
			require.Equal(t, srcBefore, objects(t, b, "source"))
			require.Equal(t, destBefore, objects(t, b, "dest"))
		})
	}
}

func TestTableDestroy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.a (id int PRIMARY KEY)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.a SELECT generate_series(1, 10)`)
	keep := b.newTable(t, "public.a", &snapshot.TableConfig{Options: replication.Options{Dest: replication.T("public", "kept")}})
	drop := b.newTable(t, "public.a", &snapshot.TableConfig{Options: replication.Options{Dest: replication.T("public", "dropped")}})
	require.NoError(t, keep.Setup(ctx))
	require.NoError(t, drop.Setup(ctx))
	require.NoError(t, keep.Destroy(ctx, &replication.DestroyOptions{KeepTable: true}))
	require.NoError(t, drop.Destroy(ctx, nil))
	b.same(t, `SELECT * FROM public.a`, "public.kept")
	require.Equal(t, []string{"kept", "kept_pkey"}, strs(t, b.Dest, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace`))
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM mimeo.jobs`))
	// The wrong kind is refused.
	s := b.newSnap(t, "public.a", &snapshot.Config{Options: replication.Options{Dest: replication.T("public", "snap")}})
	require.NoError(t, s.Setup(ctx))
	_, err := b.newTable(t, "public.a", &snapshot.TableConfig{Options: replication.Options{Dest: replication.T("public", "snap")}}).Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrWrongKind)
}

func TestTableCrashMidCopy(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"source", "dest"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			bigSource(t, b)
			tb := b.newTable(t, "public.big", nil)
			require.NoError(t, tb.Setup(ctx))
			before := scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.big"))
			catBefore := scalar[string](t, b.Dest, `SELECT config::text || ' ' || state::text FROM mimeo.jobs`)
			pgtest.MustExec(t, b.Source, `DELETE FROM public.big WHERE id % 3 = 0`)

			refreshErr := refreshCutMidCopy(t, b, side, func() error {
				_, err := tb.Refresh(ctx)
				return err
			})
			require.Error(t, refreshErr)
			require.Equal(t, before, scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.big")))
			require.Equal(t, catBefore, scalar[string](t, b.Dest, `SELECT config::text || ' ' || state::text FROM mimeo.jobs`))
			require.Equal(t, []string{"big_pkey"}, strs(t, b.Dest, `SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'public.big'::regclass`))

			_, err := tb.Refresh(ctx)
			require.NoError(t, err)
			b.same(t, `SELECT * FROM public.big`, "public.big")
		})
	}
}
