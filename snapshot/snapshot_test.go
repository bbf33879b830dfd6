package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func TestSnapshotPlainTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2), placed timestamptz)`)
	pgtest.MustExec(t, b.Source, `CREATE INDEX ON public.orders (customer, placed DESC)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.orders SELECT g, 'c' || g % 17, g * 1.5, '2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 1000) g`)
	s := b.newSnap(t, "public.orders", nil)
	require.Equal(t, replication.T("public", "orders"), s.Dest())
	require.NoError(t, s.Setup(ctx))
	b.same(t, "SELECT * FROM public.orders", "public.orders")
	require.Equal(t, "snap1", b.active(t, "public.orders"))

	b.change(t, `UPDATE public.orders SET total = total + 1 WHERE id % 3 = 0`)
	b.change(t, `DELETE FROM public.orders WHERE id % 10 = 0`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.EqualValues(t, 900, res.Inserted)
	require.Positive(t, res.Bytes)
	b.same(t, "SELECT * FROM public.orders", "public.orders")
	require.Equal(t, "v", scalar[string](t, b.Dest, `SELECT relkind::text FROM pg_class WHERE oid = 'public.orders'::regclass`))
	require.Equal(t, "snap2", b.active(t, "public.orders"))
	// The table the view no longer shows was emptied.
	require.Zero(t, scalar[int64](t, b.Dest, `SELECT count(*) FROM public.orders_snap1`))

	// Both tables carry the source's indexes, the key as a constraint, also
	// after their drop-and-rebuild around the load.
	b.change(t, `INSERT INTO public.orders VALUES (5000, 'x', 1, now())`)
	res, err = s.Refresh(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 901, res.Inserted)
	b.same(t, "SELECT * FROM public.orders", "public.orders")
	for _, tbl := range []string{"orders_snap1", "orders_snap2"} {
		require.Equal(t, []string{
			"CREATE INDEX ON public." + tbl + " USING btree (customer, placed DESC)",
			"CREATE UNIQUE INDEX ON public." + tbl + " USING btree (id)",
		}, strs(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = $1::regclass`, "public."+tbl))
		require.Equal(t, []string{"p"}, strs(t, b.Dest, `SELECT contype FROM pg_constraint WHERE conrelid = $1::regclass`, "public."+tbl))
	}
	// The state is in the catalog.
	require.Equal(t, "snap1", scalar[string](t, b.Dest, `SELECT state->>'active' FROM mimeo.jobs WHERE dest_table = 'orders'`))
	require.EqualValues(t, 901, scalar[int64](t, b.Dest, `SELECT (state->>'rows')::int8 FROM mimeo.jobs WHERE dest_table = 'orders'`))
}

func TestSnapshotEmptySource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.empty (id bigint PRIMARY KEY, note text)`)
	s := b.newSnap(t, "public.empty", nil)
	require.NoError(t, s.Setup(ctx))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT * FROM public.empty`))
	b.change(t, `INSERT INTO public.empty VALUES (1, 'one'), (2, NULL)`)
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT * FROM public.empty`, "public.empty")
	b.change(t, `DELETE FROM public.empty`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.Zero(t, res.Inserted)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT * FROM public.empty`))
}

func TestSnapshotOddNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, db := range []pgtest.Execer{b.Source, b.Dest} {
		pgtest.MustExec(t, db, `CREATE SCHEMA "Odd ""Schema"".x"`)
	}
	pgtest.MustExec(t, b.Source, `CREATE TABLE "Odd ""Schema"".x"."select" (
		"Order Id" int, "user" text, "we""ird" numeric, "MixedCase" date, "from" int,
		PRIMARY KEY ("Order Id", "user"))`)
	pgtest.MustExec(t, b.Source, `CREATE UNIQUE INDEX "idx ""q""" ON "Odd ""Schema"".x"."select" (lower("user"), "from") WHERE "from" > 0`)
	pgtest.MustExec(t, b.Source, `INSERT INTO "Odd ""Schema"".x"."select" SELECT g, 'U' || g || E'\t''"', g / 3.0, date '2020-02-29' + g, g FROM generate_series(1, 50) g`)
	src := replication.T(`Odd "Schema".x`, "select")
	s, err := snapshot.New(b.Source, b.Dest, src, nil)
	require.NoError(t, err)
	require.NoError(t, s.Setup(ctx))
	b.same(t, `SELECT * FROM "Odd ""Schema"".x"."select"`, `"Odd ""Schema"".x"."select"`)
	b.change(t, `UPDATE "Odd ""Schema"".x"."select" SET "we""ird" = -1 WHERE "Order Id" < 10`)
	_, err = s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT * FROM "Odd ""Schema"".x"."select"`, `"Odd ""Schema"".x"."select"`)
	// The expression index came along, unique and partial.
	require.Equal(t, []string{"CREATE UNIQUE INDEX ON \"Odd \"\"Schema\"\".x\".select_snap2 USING btree (lower(\"user\"), \"from\") WHERE (\"from\" > 0)"},
		strs(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = $1::regclass AND indexprs IS NOT NULL`,
			`"Odd ""Schema"".x".select_snap2`))

	// A custom destination name in another schema, mixed case and hyphens.
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA "Copy-Schema"`)
	cfg := &snapshot.Config{Options: replication.Options{Dest: replication.T("Copy-Schema", "Select-Copy")}}
	s2, err := snapshot.New(b.Source, b.Dest, src, cfg)
	require.NoError(t, err)
	require.Equal(t, replication.T("Copy-Schema", "Select-Copy"), s2.Dest())
	require.NoError(t, s2.Setup(ctx))
	b.same(t, `SELECT * FROM "Odd ""Schema"".x"."select"`, `"Copy-Schema"."Select-Copy"`)
}

func TestSnapshotCompositeKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.lines (order_id int, line smallint, sku text, qty int, PRIMARY KEY (order_id, line))`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.lines SELECT g / 5, g % 5, 'sku' || g, g FROM generate_series(0, 999) g`)
	s := b.newSnap(t, "public.lines", nil)
	require.NoError(t, s.Setup(ctx))
	b.same(t, `SELECT * FROM public.lines`, "public.lines")
	b.change(t, `DELETE FROM public.lines WHERE line = 3`)
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT * FROM public.lines`, "public.lines")
	require.Equal(t, []string{"PRIMARY KEY (order_id, line)"},
		strs(t, b.Dest, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.lines_snap2'::regclass`))
}

func TestSnapshotColumnFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.users (id int PRIMARY KEY, email text, password_hash text, created date)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.users SELECT g, 'u' || g || '@x', md5(g::text), date '2024-01-01' + g FROM generate_series(1, 300) g`)

	// Index replication is not possible with a column filter: setup says so.
	_, err := snapshot.New(b.Source, b.Dest, replication.T("public", "users"),
		&snapshot.Config{Options: replication.Options{Columns: []string{"id", "email"}}})
	var optErr *replication.OptionError
	require.ErrorAs(t, err, &optErr)
	require.Equal(t, "Config.SkipIndexes", optErr.Field)
	require.ErrorIs(t, err, replication.ErrBadOption)

	s := b.newSnap(t, "public.users", &snapshot.Config{Options: replication.Options{Columns: []string{"email", "id", "created"}, SkipIndexes: true}})
	require.NoError(t, s.Setup(ctx))
	b.same(t, `SELECT id, email, created FROM public.users`, "public.users")
	require.Equal(t, []string{"created", "email", "id"},
		strs(t, b.Dest, `SELECT attname FROM pg_attribute WHERE attrelid = 'public.users'::regclass AND attnum > 0`))
	b.change(t, `UPDATE public.users SET email = upper(email) WHERE id < 100`)
	_, err = s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, `SELECT id, email, created FROM public.users`, "public.users")
	// A change to a column the filter leaves out is not a column change.
	b.change(t, `ALTER TABLE public.users ALTER password_hash TYPE varchar(64)`)
	b.change(t, `UPDATE public.users SET created = created + 1`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.Empty(t, res.Warnings)
	b.same(t, `SELECT id, email, created FROM public.users`, "public.users")
}

func TestSnapshotCondition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.events (id int PRIMARY KEY, kind text, at int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.events SELECT g, (ARRAY['a','b','c'])[g % 3 + 1], g FROM generate_series(1, 600) g`)
	for i, cond := range []string{`WHERE kind = 'a' AND at > 100`, `kind = 'a' AND at > 100`} {
		cfg := &snapshot.Config{Options: replication.Options{Condition: cond, Dest: replication.T("public", "events_a"+string(rune('0'+i)))}}
		s := b.newSnap(t, "public.events", cfg)
		require.NoError(t, s.Setup(ctx))
		b.same(t, `SELECT * FROM public.events WHERE kind = 'a' AND at > 100`, cfg.Dest.Sanitize())
		b.change(t, `UPDATE public.events SET kind = 'a' WHERE id BETWEEN 200 AND 220`)
		_, err := s.Refresh(ctx)
		require.NoError(t, err)
		b.same(t, `SELECT * FROM public.events WHERE kind = 'a' AND at > 100`, cfg.Dest.Sanitize())
	}
}

func TestSnapshotJoinedCondition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.accounts (id int PRIMARY KEY, region text)`)
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.invoices (id int PRIMARY KEY, account_id int, region text, amount int)`)
	// b.change publishes the inserts' statistics at once: published later,
	// they would read as a change after the setup, and the refresh below
	// would pull rather than skip.
	b.change(t, `INSERT INTO public.accounts SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 20) g`)
	// invoices.region is deliberately ambiguous with accounts.region.
	b.change(t, `INSERT INTO public.invoices SELECT g, g % 20 + 1, 'x', g FROM generate_series(1, 400) g`)
	cond := `, public.accounts a WHERE a.id = invoices.account_id AND a.region = 'eu'`
	want := `SELECT i.* FROM public.invoices i JOIN public.accounts a ON a.id = i.account_id WHERE a.region = 'eu'`
	s := b.newSnap(t, "public.invoices", &snapshot.Config{SkipUnchanged: true, Options: replication.Options{Condition: cond}})
	require.NoError(t, s.Setup(ctx))
	b.same(t, want, "public.invoices")
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.True(t, res.Skipped, "nothing changed")
	// A change to the joined table alone is seen by the statistics check.
	b.change(t, `UPDATE public.accounts SET region = 'eu' WHERE id IN (1, 3)`)
	res, err = s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	b.same(t, want, "public.invoices")
}

func TestSnapshotViewSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.base (id int PRIMARY KEY, v int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.base SELECT g, g * g FROM generate_series(1, 100) g`)
	pgtest.MustExec(t, b.Source, `CREATE VIEW public.squares AS SELECT id, v, v % 7 AS m FROM public.base WHERE id % 2 = 0`)
	s := b.newSnap(t, "public.squares", nil)
	require.NoError(t, s.Setup(ctx))
	b.same(t, `SELECT * FROM public.squares`, "public.squares")
	// A view is always pulled: statistics cannot vouch for it.
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.EqualValues(t, 50, res.Inserted)
	pgtest.MustExec(t, b.Source, `UPDATE public.base SET v = -v`)
	res, err = s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	b.same(t, `SELECT * FROM public.squares`, "public.squares")
}

func TestSnapshotSkipPullThenRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.items (id int PRIMARY KEY, name text)`)
	// Its statistics published at once, as in TestSnapshotJoinedCondition.
	b.change(t, `INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 250) g`)
	s := b.newSnap(t, "public.items", &snapshot.Config{SkipUnchanged: true, Options: replication.Options{SkipPull: true}})
	require.NoError(t, s.Setup(ctx))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT * FROM public.items`))
	// The first refresh pulls although the source has not changed.
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	b.same(t, `SELECT * FROM public.items`, "public.items")
	res, err = s.Refresh(ctx)
	require.NoError(t, err)
	require.True(t, res.Skipped)
}

func TestSnapshotSkipWhenUnchanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.prices (id int PRIMARY KEY, price int)`)
	b.change(t, `INSERT INTO public.prices SELECT g, g FROM generate_series(1, 3) g`)
	s := b.newSnap(t, "public.prices", &snapshot.Config{SkipUnchanged: true})
	require.NoError(t, s.Setup(ctx))
	lastOK := func() string {
		return scalar[string](t, b.Dest, `SELECT last_ok::text FROM mimeo.jobs WHERE dest_table = 'prices'`)
	}

	step := func(name string, change func(), skipped bool) {
		t.Helper()
		if change != nil {
			change()
		}
		before := lastOK()
		res, err := s.Refresh(ctx)
		require.NoError(t, err, name)
		require.Equal(t, skipped, res.Skipped, name)
		if skipped {
			require.Equal(t, snapshot.SkipUnchanged, res.SkipReason)
		}
		require.NotEqual(t, before, lastOK(), "%s: the run is recorded", name)
		b.same(t, `SELECT * FROM public.prices`, "public.prices")
	}
	step("unchanged", nil, true)
	step("update", func() { b.change(t, `UPDATE public.prices SET price = 10 WHERE id = 1`) }, false)
	step("unchanged again", nil, true)
	step("insert", func() { b.change(t, `INSERT INTO public.prices VALUES (4, 4)`) }, false)
	step("delete", func() { b.change(t, `DELETE FROM public.prices WHERE id = 4`) }, false)
	// TRUNCATE moves no counter; the table's new file node gives it away.
	step("truncate", func() { b.change(t, `TRUNCATE public.prices`) }, false)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT * FROM public.prices`))
	step("unchanged after truncate", nil, true)
	step("insert after truncate", func() { b.change(t, `INSERT INTO public.prices SELECT g, g FROM generate_series(1, 3) g`) }, false)
	step("statistics reset", func() { b.change(t, `SELECT pg_stat_reset_single_table_counters('public.prices'::regclass)`) }, false)
	step("unchanged after reset", nil, true)
	// After a reset the counters can come back to exactly the values
	// recorded before it while the data differ: the reset time tells.
	counts := func() []string {
		return strs(t, b.Source, `SELECT format('%s/%s/%s', n_tup_ins, n_tup_upd, n_tup_del) FROM pg_stat_user_tables WHERE relid = 'public.prices'::regclass`)
	}
	b.change(t, `INSERT INTO public.prices VALUES (5, 5)`)
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"1/0/0"}, counts())
	step("reset, then the same counts", func() {
		b.change(t, `SELECT pg_stat_reset_single_table_counters('public.prices'::regclass)`)
		b.change(t, `INSERT INTO public.prices VALUES (6, 6)`)
		require.Equal(t, []string{"1/0/0"}, counts())
	}, false)
	step("whole-database reset", func() { b.change(t, `SELECT pg_stat_reset()`) }, false)

	// By default every refresh pulls.
	s2 := b.newSnap(t, "public.prices", &snapshot.Config{Options: replication.Options{Dest: replication.T("public", "prices_always")}})
	require.NoError(t, s2.Setup(ctx))
	res, err := s2.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
}

// By default a refresh holds every change committed before it started,
// even one whose statistics the writing session has not published yet
// (PostgreSQL does that up to seconds after the commit): it never skips.
func TestSnapshotRefreshRightAfterACommit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.quotes (id int PRIMARY KEY, price int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.quotes SELECT g, g FROM generate_series(1, 50) g`)
	s := b.newSnap(t, "public.quotes", nil)
	require.NoError(t, s.Setup(ctx))
	writer, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer writer.Release()
	for i := 0; i < 20; i++ {
		// The writer stays connected and idle: its statistics stay pending.
		_, err := writer.Exec(ctx, `UPDATE public.quotes SET price = price + 1 WHERE id = $1`, i%50+1)
		require.NoError(t, err)
		res, err := s.Refresh(ctx)
		require.NoError(t, err)
		require.False(t, res.Skipped, "round %d", i)
		b.same(t, `SELECT * FROM public.quotes`, "public.quotes")
	}
}
