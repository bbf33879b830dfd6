package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon/nagios"
	"github.com/pgmimeo/pgmimeo/replication"
)

const twoJobs = `destination: ${PGMIMEO_DST}
sources:
  app:
    dsn: ${PGMIMEO_SRC}
jobs:
  - kind: dml
    table: '"Sales"."Order Lines"'
    columns: [id, qty]
    condition: qty > 0
  - kind: inserter
    table: public.events
    control: at
    boundary: 0s
`

// TestMigratePrint: the printed SQL, run by another tool (psql), makes
// the catalog and the job log so that pgmimeo finds them up to date; a
// job file applied after it works on them.
func TestMigratePrint(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	c := newCLI(t, "PGMIMEO_SRC="+b.SourceDSN, "PGMIMEO_DST="+b.DestDSN)
	sql := c.ok("migrate", "--print", "--catalog", "their_catalog")
	require.Contains(t, sql, `CREATE SCHEMA IF NOT EXISTS "their_catalog"`)
	require.Contains(t, sql, `CREATE SCHEMA IF NOT EXISTS "jobmon"`)
	require.Contains(t, sql, `CREATE SCHEMA IF NOT EXISTS "mimeo_queue"`)
	dest, queue, _ := strings.Cut(sql, "-- DML queue registry")
	_, err := b.Dest.Exec(context.Background(), dest)
	require.NoError(t, err)
	_, err = b.Source.Exec(context.Background(), "-- "+queue)
	require.NoError(t, err)
	versions := func() []string {
		return pgtest.Rows(t, b.Dest, `SELECT 'c', version FROM their_catalog.schema_version UNION ALL SELECT 'j', version FROM jobmon.schema_version`)
	}
	before := versions()
	require.Len(t, before, 7) // the catalog's five migrations and jobmon's two
	out := c.ok("migrate", "--catalog", "their_catalog", "--dest", b.DestDSN)
	require.Contains(t, out, "up to date")
	require.Equal(t, before, versions(), "migrate found every version applied")

	pgtest.MustExec(t, b.Source, `
		CREATE SCHEMA "Sales";
		CREATE TABLE "Sales"."Order Lines" (id int PRIMARY KEY, qty int NOT NULL, note text);
		INSERT INTO "Sales"."Order Lines" SELECT g, g % 5, 'n' || g FROM generate_series(1, 50) g;
		CREATE TABLE public.events (id int PRIMARY KEY, at timestamptz NOT NULL);
		INSERT INTO public.events SELECT g, now() - g * interval '1 minute' FROM generate_series(1, 30) g`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA "Sales"`)
	file := c.writeFile("jobs.yaml", twoJobs)
	c.ok("apply", "-f", file, "--catalog", "their_catalog")
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT id, qty FROM "Sales"."Order Lines" WHERE qty > 0`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM "Sales"."Order Lines"`))
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Source, `SELECT count(*) FROM mimeo_queue.schema_version`), "the queue registry was made by the printed SQL")
}

// TestListStatusRepullJSON: list and status in both forms, refresh and
// repull of named jobs, run --once, preflight, and check printing what
// the plugin prints.
func TestListStatusRepullJSON(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `
		CREATE SCHEMA "Sales";
		CREATE TABLE "Sales"."Order Lines" (id int PRIMARY KEY, qty int NOT NULL, note text);
		INSERT INTO "Sales"."Order Lines" SELECT g, g % 5, 'n' || g FROM generate_series(1, 50) g;
		CREATE TABLE public.events (id int PRIMARY KEY, at timestamptz NOT NULL);
		INSERT INTO public.events SELECT g, now() - g * interval '1 minute' FROM generate_series(1, 30) g`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA "Sales"`)
	c := newCLI(t, "PGMIMEO_SRC="+b.SourceDSN, "PGMIMEO_DST="+b.DestDSN)
	file := c.writeFile("jobs.yaml", twoJobs)
	c.ok("apply", "-f", file)

	out := c.ok("list", "-f", file)
	require.Contains(t, out, `"Sales"."Order Lines"  dml`)
	require.Contains(t, out, `app: "public"."events"`)
	var listed []jobStatus
	require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--dest", b.DestDSN, "--json")), &listed))
	require.Equal(t, []string{`"Sales"."Order Lines"`, `"public"."events"`}, []string{listed[0].Job, listed[1].Job})
	require.Equal(t, []string{"dml", "inserter"}, []string{listed[0].Kind, listed[1].Kind})

	// Changes, then refresh by name and repull; the destination follows.
	pgtest.MustExec(t, b.Source, `UPDATE "Sales"."Order Lines" SET qty = qty + 1 WHERE id <= 10;
		INSERT INTO public.events SELECT g, now() - interval '1 second' FROM generate_series(31, 40) g`)
	out = c.ok("refresh", "-f", file, `"Sales"."Order Lines"`, "public.events")
	require.Contains(t, out, "10 inserted")
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT id, qty FROM "Sales"."Order Lines" WHERE qty > 0`),
		pgtest.Rows(t, b.Dest, `SELECT * FROM "Sales"."Order Lines"`))
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.events`), pgtest.Rows(t, b.Dest, `SELECT * FROM public.events`))
	pgtest.MustExec(t, b.Dest, `DELETE FROM public.events WHERE id < 5`)
	var repulled []outcome
	require.NoError(t, json.Unmarshal([]byte(c.ok("repull", "-f", file, "public.events", "--json")), &repulled))
	require.Equal(t, int64(40), repulled[0].Inserted)
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.events`), pgtest.Rows(t, b.Dest, `SELECT * FROM public.events`))

	var status []jobStatus
	require.NoError(t, json.Unmarshal([]byte(c.ok("status", "-f", file, "--json")), &status))
	for _, s := range status {
		require.Equal(t, stateManual, s.State, "%+v", s)
	}
	// --detail reads what each kind adds from the sources.
	pgtest.MustExec(t, b.Source, `UPDATE "Sales"."Order Lines" SET qty = qty + 1 WHERE id <= 3;
		INSERT INTO public.events VALUES (41, now() - interval '1 second'), (42, now() - interval '1 second')`)
	status = nil
	require.NoError(t, json.Unmarshal([]byte(c.ok("status", "-f", file, "--json", "--detail")), &status))
	require.Equal(t, int64(3), *status[0].Detail.Backlog, "%+v", status[0].Detail)
	require.Equal(t, int64(2), *status[1].Detail.RowsBehind, "%+v", status[1].Detail)
	out = c.ok("status", "-f", file, "--detail")
	require.Contains(t, out, "3 queued")
	require.Contains(t, out, "2 rows behind")
	out = c.ok("run", "-f", file, "--once")
	require.NotContains(t, out, "failed")

	// preflight, as a role that may only read: no trigger capture (the
	// incremental kinds may use the integer column qty as control).
	reader := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA "Sales" TO `+replication.QuoteIdent(reader.Name)+`;
		GRANT SELECT ON "Sales"."Order Lines" TO `+replication.QuoteIdent(reader.Name))
	var verdicts []kindVerdict
	require.NoError(t, json.Unmarshal([]byte(c.ok("preflight", "--source-dsn", b.DSN(b.SourceDB, reader), `"Sales"."Order Lines"`, "--json")), &verdicts))
	possible := map[string]bool{}
	for _, v := range verdicts {
		if !v.Logical {
			possible[v.Kind] = v.Possible
		}
		if !v.Possible {
			require.NotEmpty(t, v.Fix, "%+v", v)
		}
	}
	require.Equal(t, map[string]bool{"snapshot": true, "table": true, "inserter": true, "updater": true, "dml": false, "logdel": false}, possible)
	out = c.ok("preflight", "-f", file)
	require.Contains(t, out, "dml *")

	// check prints what the plugin prints.
	code, lines := nagios.Check(ctx, nagios.Config{DSN: b.DestDSN})
	out, _, got := c.run("check", "--dest", b.DestDSN)
	require.Equal(t, code, got)
	lagPerf := regexp.MustCompile(` '(lag [^']+)'=[0-9.]+s`) // the lags grow between the two checks
	require.Equal(t, lagPerf.ReplaceAllString(strings.Join(lines, "\n")+"\n", " $1"), lagPerf.ReplaceAllString(out, " $1"))
	require.Contains(t, out, "'lag public.events'=")
	require.True(t, strings.HasPrefix(out, "JOBMON OK"), out)
}

// TestPasswordFailureNamesTheFix: a wrong password is refused with the
// ways pgmimeo takes one, and the password never appears.
func TestPasswordFailureNamesTheFix(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	role := b.CreateRole(t)
	dsn := b.DSN(b.DestDB, role)
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.Password = "not-" + role.Password
	if conn, err := pgx.ConnectConfig(context.Background(), cfg); err == nil {
		_ = conn.Close(context.Background())
		t.Skip("the test server accepts any password: no password failure to test")
	}
	stripped, err := replication.StripPassword(dsn)
	require.NoError(t, err)
	c := newCLI(t, "PGPASSWORD=not-"+role.Password)
	out, errOut, code := c.run("list", "--dest", stripped)
	require.Equal(t, exitFailed, code, out+errOut)
	require.Contains(t, errOut, "pgmimeo keeps no password: give it in PGPASSWORD, a pgpass file (PGPASSFILE)")
	require.NotContains(t, out+errOut, role.Password)
}
