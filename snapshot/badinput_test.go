package snapshot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// objects lists every schema and relation of a database outside the
// system schemas, to show that a failed setup left nothing behind.
func objects(t *testing.T, b *bundle, pool string) []string {
	db := b.Dest
	if pool == "source" {
		db = b.Source
	}
	return strs(t, db, `SELECT n.nspname || '.' || COALESCE(c.relname, '') FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'`)
}

type badCase struct {
	name string
	// prepare runs before the setup (on a fresh pair of databases that
	// already hold public.orders on the source).
	prepare func(t *testing.T, b *bundle)
	src     string
	cfg     replication.Options
	// table is the table the error must name; column, if set, the column.
	table    replication.Table
	column   string
	sentinel error
}

var badCases = []badCase{
	{name: "unknown source table", src: "public.nope", table: replication.T("public", "nope"), sentinel: replication.ErrTableNotFound},
	{name: "unknown source schema", src: "nowhere.orders", table: replication.T("nowhere", "orders"), sentinel: replication.ErrTableNotFound},
	{name: "destination exists", src: "public.orders", table: replication.T("public", "orders"), sentinel: replication.ErrExists,
		prepare: func(t *testing.T, b *bundle) {
			pgtest.MustExec(t, b.Dest, `CREATE TABLE public.orders (id int)`)
		}},
	{name: "custom destination exists as a sequence", src: "public.orders", cfg: replication.Options{Dest: replication.T("public", "copy")},
		table: replication.T("public", "copy"), sentinel: replication.ErrExists,
		prepare: func(t *testing.T, b *bundle) {
			pgtest.MustExec(t, b.Dest, `CREATE SEQUENCE public.copy`)
		}},
	{name: "destination schema missing", src: "public.orders", cfg: replication.Options{Dest: replication.T("nowhere", "orders")},
		table: replication.T("nowhere", "orders"), sentinel: replication.ErrSchemaNotFound},
	{name: "filter names an unknown column", src: "public.orders", cfg: replication.Options{Columns: []string{"id", "Total"}, SkipIndexes: true},
		table: replication.T("public", "orders"), column: "Total", sentinel: replication.ErrColumnNotFound},
	{name: "condition does not parse", src: "public.orders", cfg: replication.Options{Condition: "WHERE total >>> 3"},
		table: replication.T("public", "orders"), sentinel: replication.ErrBadCondition},
	{name: "condition names an unknown column", src: "public.orders", cfg: replication.Options{Condition: "nope = 1"},
		table: replication.T("public", "orders"), sentinel: replication.ErrBadCondition},
	{name: "joined condition names an unknown table", src: "public.orders", cfg: replication.Options{Condition: ", public.nope n WHERE n.id = orders.id"},
		table: replication.T("public", "orders"), sentinel: replication.ErrBadCondition},
}

func TestSnapshotBadInput(t *testing.T) {
	t.Parallel()
	cases := append([]badCase{{name: "a snapshot table name is taken", src: "public.orders", table: replication.T("public", "orders_snap2"),
		sentinel: replication.ErrExists, prepare: func(t *testing.T, b *bundle) {
			pgtest.MustExec(t, b.Dest, `CREATE VIEW public.orders_snap2 AS SELECT 1 AS x`)
		}}}, badCases...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id int PRIMARY KEY, total int)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.orders VALUES (1, 10), (2, 20)`)
			if tc.prepare != nil {
				tc.prepare(t, b)
			}
			srcBefore, destBefore := objects(t, b, "source"), objects(t, b, "dest")
			log := &memLog{}
			cfg := &snapshot.Config{Options: tc.cfg}
			cfg.JobLog = log
			s, err := snapshot.New(b.Source, b.Dest, replication.MustParseTable(tc.src), cfg)
			require.NoError(t, err)
			err = s.Setup(context.Background())
			checkBadInput(t, err, tc)
			require.Equal(t, srcBefore, objects(t, b, "source"), "nothing left on the source")
			require.Equal(t, destBefore, objects(t, b, "dest"), "nothing left on the destination")
			require.Len(t, log.summary(), 1)
			require.Contains(t, log.summary()[0], "[CRITICAL]")
		})
	}
}

func checkBadInput(t *testing.T, err error, tc badCase) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, tc.sentinel)
	if tc.column != "" {
		var ce *replication.ColumnError
		require.True(t, errors.As(err, &ce), "want a *ColumnError, got %T: %v", err, err)
		require.Equal(t, tc.table, ce.Table)
		require.Equal(t, tc.column, ce.Column)
		require.NotEmpty(t, ce.Fix)
	} else {
		var te *replication.TableError
		require.True(t, errors.As(err, &te), "want a *TableError, got %T: %v", err, err)
		require.Equal(t, tc.table, te.Table)
		require.NotEmpty(t, te.Fix)
	}
	require.True(t, strings.Contains(err.Error(), tc.table.Sanitize()), "the message names the table: %v", err)
	t.Logf("%v", err)
}

func TestSnapshotBadOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := replication.T("public", "orders")
	for _, tc := range []struct {
		cfg   *snapshot.Config
		field string
	}{
		{&snapshot.Config{Options: replication.Options{BatchLimit: 10}}, "Config.BatchLimit"},
		{&snapshot.Config{Options: replication.Options{Columns: []string{"id"}}}, "Config.SkipIndexes"},
		{&snapshot.Config{PostScripts: []string{" "}}, "Config.PostScripts"},
		{&snapshot.Config{Options: replication.Options{DDLLockTimeout: -1}}, "Options.DDLLockTimeout"},
	} {
		_, err := snapshot.New(b.Source, b.Dest, src, tc.cfg)
		require.ErrorIs(t, err, replication.ErrBadOption, tc.field)
		var oe *replication.OptionError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, tc.field, oe.Field)
	}
	_, err := snapshot.New(b.Source, b.Dest, replication.T("public", strings.Repeat("y", 58)), nil)
	require.ErrorIs(t, err, replication.ErrBadName, "the tables' names would not fit")
	_, err = snapshot.New(b.Source, b.Dest, src, &snapshot.Config{Options: replication.Options{Dest: replication.T("", strings.Repeat("x", 60))}})
	require.ErrorIs(t, err, replication.ErrBadName)
	_, err = snapshot.New(b.Source, nil, src, nil)
	require.ErrorIs(t, err, replication.ErrBadOption)

	// Settings the server checks fail at setup, leaving nothing behind.
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id int PRIMARY KEY)`)
	destBefore := objects(t, b, "dest")
	s, err := snapshot.New(b.Source, b.Dest, src, &snapshot.Config{LoadOptions: snapshot.LoadOptions{MaintenanceWorkMem: "lots"}})
	require.NoError(t, err)
	err = s.Setup(context.Background())
	var oe *replication.OptionError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "LoadOptions.MaintenanceWorkMem", oe.Field)
	require.Equal(t, destBefore, objects(t, b, "dest"))
	s, err = snapshot.New(b.Source, b.Dest, src, &snapshot.Config{LoadOptions: snapshot.LoadOptions{MaintenanceWorkMem: "128MB"}})
	require.NoError(t, err)
	require.NoError(t, s.Setup(context.Background()))
}

func TestSnapshotSourcePrivilege(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.secret (id int PRIMARY KEY, v text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.secret VALUES (1, 'a')`)
	r := b.CreateRole(t)
	srcPool := pgtest.Pool(t, b.DSN(b.SourceDB, r))
	destBefore := objects(t, b, "dest")
	s, err := snapshot.New(srcPool, b.Dest, replication.T("public", "secret"), nil)
	require.NoError(t, err)
	err = s.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, replication.T("public", "secret"), te.Table)
	require.Equal(t, destBefore, objects(t, b, "dest"))

	// SELECT is all the source role needs.
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON public.secret TO `+replication.QuoteIdent(r.Name))
	require.NoError(t, s.Setup(ctx))
	b.same(t, `SELECT * FROM public.secret`, "public.secret")
	b.change(t, `INSERT INTO public.secret VALUES (2, 'b')`)
	res, err := s.Refresh(ctx)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	b.same(t, `SELECT * FROM public.secret`, "public.secret")
	// The password is not stored in the catalog.
	require.NotContains(t, scalar[string](t, b.Dest, `SELECT conninfo FROM mimeo.sources`), r.Password)
}

func TestSnapshotJobLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.logged (id int PRIMARY KEY)`)
	// Statistics published at once, or the first refresh below would pull.
	b.change(t, `INSERT INTO public.logged SELECT generate_series(1, 10)`)
	log := &memLog{}
	cfg := snapshotConfig(log)
	cfg.SkipUnchanged = true
	s := b.newSnap(t, "public.logged", cfg)
	require.NoError(t, s.Setup(ctx))
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	b.change(t, `DELETE FROM public.logged WHERE id > 5`)
	_, err = s.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{
		"Snapshot Maker: public.logged [OK] Checking source \"public\".\"logged\": OK; Checking destination \"public\".\"logged\": OK; " +
			"Loading \"public\".\"logged_snap1\": OK; Creating indexes: OK; Creating view \"public\".\"logged\": OK",
		"Refresh Snap: public.logged [OK] Reading source \"public\".\"logged\": OK",
		"Refresh Snap: public.logged [OK] Reading source \"public\".\"logged\": OK; Loading \"public\".\"logged_snap2\": OK; " +
			"Building indexes of \"public\".\"logged_snap2\": OK; Swapping view to \"public\".\"logged_snap2\": OK",
	}, log.summary())
	require.Equal(t, []string{"Source changed since the last refresh", "Inserted 5 rows (71 bytes)", "Done", "View swapped"}, log.messages())

	// A failing refresh ends CRITICAL with the error in its open step.
	pgtest.MustExec(t, b.Source, `DROP TABLE public.logged`)
	_, err = s.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	sum := log.summary()
	require.Equal(t, "Refresh Snap: public.logged [CRITICAL] Reading source \"public\".\"logged\": CRITICAL", sum[len(sum)-1])
	require.Contains(t, log.messages()[0], "ERROR: table \"public\".\"logged\": table not found")
	require.Equal(t, 1, scalar[int](t, b.Dest, `SELECT failures FROM mimeo.jobs`))
	require.Contains(t, scalar[string](t, b.Dest, `SELECT last_error FROM mimeo.jobs`), "table not found")
}
