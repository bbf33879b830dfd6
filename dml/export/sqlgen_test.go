package export_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// oddTable has names that need quoting everywhere, including a dollar-quote
// tag in a column name.
var oddTable = replication.T(`Sales "EU"`, `order-lines; $pgmimeo$`)

// generated returns the four generators' SQL for the golden files.
func generated(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var err error
	out["tracking"], err = export.TrackingSQL("mimeo_export")
	require.NoError(t, err)
	out["exporter"], err = export.ExporterSQL("mimeo_export", replication.T("public", "orders"), "id", "bigint")
	require.NoError(t, err)
	out["exporter_odd"], err = export.ExporterSQL(`exp "x"`, oddTable, `Line $pgmimeo$ No`, "integer")
	require.NoError(t, err)
	out["importer"], err = export.ImporterSQL("mimeo_import")
	require.NoError(t, err)
	out["reset"], err = export.ResetSQL("mimeo_export", replication.T("public", "orders"), targetA)
	require.NoError(t, err)
	out["reset_odd"], err = export.ResetSQL(`exp "x"`, oddTable, export.Target{Host: `it's\host`, Database: "db"})
	require.NoError(t, err)
	return out
}

// The generated SQL is the reviewed SQL in testdata/*.golden (go test
// -update rewrites them).
func TestGeneratedSQLGolden(t *testing.T) {
	for name, sql := range generated(t) {
		path := filepath.Join("testdata", name+".golden")
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(sql), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -update to make %s", path)
		require.Equal(t, string(want), sql, "%s differs; review and run go test -update", path)
	}
}

// The generators refuse names that cannot work.
func TestGeneratorsRefuseBadInput(t *testing.T) {
	_, err := export.TrackingSQL("")
	require.ErrorIs(t, err, replication.ErrBadOption)
	_, err = export.ExporterSQL("s", replication.T("", "t"), "id", "int")
	require.ErrorIs(t, err, replication.ErrBadName)
	_, err = export.ExporterSQL("s", replication.T("public", "t"), "", "int")
	require.ErrorIs(t, err, replication.ErrBadOption)
	_, err = export.ResetSQL("s", replication.T("public", "t"), export.Target{Host: "h"})
	require.ErrorIs(t, err, replication.ErrBadOption)
}

// The golden SQL, run by hand as a role that is not a superuser and owns
// only the two schemas (the DBA's way), installs on a fresh database, and
// the trigger it makes records changes.
func TestGeneratedSQLInstallsOnFreshDatabase(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	role := b.CreateRole(t)
	r := replication.QuoteIdent(role.Name)
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id bigserial PRIMARY KEY, total numeric);
		CREATE SCHEMA `+replication.QuoteIdent(oddTable.Schema)+`;
		CREATE TABLE `+oddTable.Sanitize()+` ("Line $pgmimeo$ No" integer PRIMARY KEY, v text);
		CREATE SCHEMA mimeo_export AUTHORIZATION `+r+`;
		CREATE SCHEMA "exp ""x""" AUTHORIZATION `+r+`;
		GRANT USAGE ON SCHEMA `+replication.QuoteIdent(oddTable.Schema)+` TO `+r+`;
		GRANT SELECT, TRIGGER ON public.orders, `+oddTable.Sanitize()+` TO `+r+`;
		GRANT INSERT, UPDATE ON public.orders, `+oddTable.Sanitize()+` TO PUBLIC;
		GRANT USAGE ON SEQUENCE public.orders_id_seq TO PUBLIC`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA mimeo_import AUTHORIZATION `+r)
	src := pgtest.Pool(t, b.DSN(b.SourceDB, role))
	dst := pgtest.Pool(t, b.DSN(b.DestDB, role))
	read := func(name string) string {
		p, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		require.NoError(t, err)
		return string(p)
	}
	pgtest.MustExec(t, src, read("tracking"))
	pgtest.MustExec(t, src, read("tracking")) // again: keeps what is there
	pgtest.MustExec(t, src, read("exporter"))
	oddTracking, err := export.TrackingSQL(`exp "x"`)
	require.NoError(t, err)
	pgtest.MustExec(t, src, oddTracking)
	pgtest.MustExec(t, src, read("exporter_odd"))
	pgtest.MustExec(t, dst, read("importer"))
	pgtest.MustExec(t, dst, read("importer"))
	// Writers with no right on the export schema queue through the trigger.
	pgtest.MustExec(t, b.Source, `INSERT INTO public.orders (total) VALUES (1), (2); UPDATE public.orders SET id = 10 WHERE id = 2;
		INSERT INTO `+oddTable.Sanitize()+` VALUES (7, 'x')`)
	require.Equal(t, []string{"(1)", "(10)", "(2)", "(2)"},
		pgtest.Rows(t, src, `SELECT id FROM `+export.ShadowTable("mimeo_export", replication.T("public", "orders")).Sanitize()))
	require.Equal(t, []string{"(7)"}, pgtest.Rows(t, src, `SELECT id FROM `+export.ShadowTable(`exp "x"`, oddTable).Sanitize()))
	// The reset SQL runs; it resets a target that was exported to.
	pgtest.MustExec(t, src, read("reset"))
	pgtest.MustExec(t, src, `INSERT INTO mimeo_export.export_target (table_schema, table_name, target_host, target_database, last_batch, acked_batch, acked_snapshot)
		VALUES ('public', 'orders', 'dr.example.com', 'reporting', 5, 5, pg_current_snapshot())`)
	pgtest.MustExec(t, src, read("reset"))
	require.Equal(t, []string{"(5,5,t)"}, pgtest.Rows(t, src, `SELECT last_batch, reset_after, acked_snapshot IS NULL FROM mimeo_export.export_target`))
	pgtest.MustExec(t, src, read("reset_odd"))
}

// The Go install functions need no superuser either, and the exporter
// refuses a table without a usable key with a typed error.
func TestInstallAsOrdinaryRole(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	role := b.CreateRole(t)
	r := replication.QuoteIdent(role.Name)
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.orders (id bigserial PRIMARY KEY, total numeric);
		CREATE TABLE public.nokey (id int, v text);
		CREATE SCHEMA mimeo_export AUTHORIZATION `+r+`;
		GRANT SELECT ON public.orders, public.nokey TO `+r)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA mimeo_import AUTHORIZATION `+r)
	src := pgtest.Pool(t, b.DSN(b.SourceDB, role))
	ex, err := export.NewExporter(src, replication.T("public", "orders"), nil)
	require.NoError(t, err)
	err = ex.Install(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.ErrorContains(t, err, "GRANT SELECT, TRIGGER ON")
	// Nothing half-made.
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relnamespace = 'mimeo_export'::regnamespace`))
	pgtest.MustExec(t, b.Source, `GRANT TRIGGER ON public.orders TO `+r)
	require.NoError(t, ex.Install(ctx))
	err = ex.Install(ctx)
	require.ErrorIs(t, err, replication.ErrExists)

	nokey, err := export.NewExporter(src, replication.T("public", "nokey"), nil)
	require.NoError(t, err)
	require.ErrorIs(t, nokey.Install(ctx), replication.ErrNoKey)
	other, err := export.NewExporter(src, replication.T("public", "orders"), &export.ExporterConfig{Key: "total"})
	require.NoError(t, err)
	require.ErrorIs(t, other.Install(ctx), replication.ErrNoKey)
	missing, err := export.NewExporter(src, replication.T("public", "orders"), &export.ExporterConfig{Key: "nope"})
	require.NoError(t, err)
	require.ErrorIs(t, missing.Install(ctx), replication.ErrColumnNotFound)

	im, err := export.NewImporter(pgtest.Pool(t, b.DSN(b.DestDB, role)), nil)
	require.NoError(t, err)
	require.NoError(t, im.Install(ctx))
	_, err = export.NewImporter(b.Dest, &export.ImporterConfig{Target: export.Target{Host: "h"}})
	require.ErrorIs(t, err, replication.ErrBadOption)
}
