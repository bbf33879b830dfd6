package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// jobsFile declares six jobs, one of each kind, on one source. period and
// batch are the snapshot job's period and the inserter's batch limit; key
// is the dml job's key.
func jobsFile(period string, batch int, key string) string {
	return fmt.Sprintf(`# the acceptance job file: one job of each kind
destination: ${PGMIMEO_DST}
sources:
  app:
    dsn: ${PGMIMEO_SRC}
jobs:
  - kind: snapshot
    table: public.prices
    period: %s
  - kind: table
    table: public.stock
    period: 1s
  - kind: inserter
    table: public.events
    control: id
    serial_boundary: 0
    batch_limit: %d
    period: 1s
  - kind: updater
    table: public.users
    control: updated_at
    boundary: 0s
    period: 1s
  - kind: dml
    table: public.orders
    key: [%s]
    period: 1s
  - kind: logdel
    table: public.audit
    dest: public.audit_log
    period: 1s
`, period, batch, key)
}

// freeAddr returns a local address no one listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// password returns the password of connection string dsn.
func password(t *testing.T, dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	return cfg.Password
}

// pairs are the source and destination queries whose rows must match.
var pairs = [][2]string{
	{`SELECT * FROM public.prices`, `SELECT * FROM public.prices`},
	{`SELECT * FROM public.stock`, `SELECT * FROM public.stock`},
	{`SELECT * FROM public.events`, `SELECT * FROM public.events`},
	{`SELECT * FROM public.users`, `SELECT * FROM public.users`},
	{`SELECT * FROM public.orders`, `SELECT * FROM public.orders`},
	{`SELECT * FROM public.audit`, `SELECT id, note FROM public.audit_log WHERE mimeo_source_deleted IS NULL`},
}

// differing returns the pairs whose rows differ.
func differing(t *testing.T, src, dst *pgxpool.Pool) []string {
	var bad []string
	for _, p := range pairs {
		if fmt.Sprint(pgtest.Rows(t, src, p[0])) != fmt.Sprint(pgtest.Rows(t, dst, p[1])) {
			bad = append(bad, p[0])
		}
	}
	return bad
}

// change writes to every source table, round r.
func change(t *testing.T, src *pgxpool.Pool, r int) {
	pgtest.MustExec(t, src, fmt.Sprintf(`
		UPDATE public.prices SET price = price + 1 WHERE sku = 'SKU-%[1]d';
		INSERT INTO public.prices VALUES ('NEW-%[1]d', %[1]d);
		UPDATE public.stock SET qty = qty - 1 WHERE sku = 'SKU-%[1]d';
		INSERT INTO public.events (what) SELECT 'round %[1]d/' || g FROM generate_series(1, 7) g;
		UPDATE public.users SET name = name || '+', updated_at = clock_timestamp() WHERE id %% 10 = %[2]d;
		INSERT INTO public.orders VALUES (1000 + %[1]d, 'C-' || (1000 + %[1]d), 'new', %[1]d);
		UPDATE public.orders SET status = 'paid' WHERE id = %[1]d;
		DELETE FROM public.orders WHERE id = 100 - %[1]d;
		INSERT INTO public.audit VALUES (1000 + %[1]d, 'added in round %[1]d');
		DELETE FROM public.audit WHERE id = %[1]d + 1`, r, r%10))
}

// TestOperate drives the built command against real PostgreSQL as a DBA
// would: apply a file of six jobs of different kinds, apply it again,
// change settings in place, refuse a rebuild, run the worker while the
// source changes, read status, validate and repair a tampered row,
// restart the worker ten times, check, and destroy every job.
func TestOperate(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `
		CREATE TABLE public.prices (sku text PRIMARY KEY, price numeric(10,2) NOT NULL);
		CREATE TABLE public.stock (sku text PRIMARY KEY, qty int NOT NULL);
		CREATE TABLE public.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text);
		CREATE TABLE public.users (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE TABLE public.orders (id int PRIMARY KEY, code text NOT NULL UNIQUE, status text NOT NULL, total numeric(10,2));
		CREATE TABLE public.audit (id int PRIMARY KEY, note text);
		INSERT INTO public.prices SELECT 'SKU-' || g, g FROM generate_series(1, 200) g;
		INSERT INTO public.stock SELECT 'SKU-' || g, g * 3 FROM generate_series(1, 200) g;
		INSERT INTO public.events (what) SELECT 'event ' || g FROM generate_series(1, 300) g;
		INSERT INTO public.users SELECT g, 'user ' || g, now() - interval '1 day' FROM generate_series(1, 100) g;
		INSERT INTO public.orders SELECT g, 'C-' || g, 'new', g * 1.5 FROM generate_series(1, 100) g;
		INSERT INTO public.audit SELECT g, 'note ' || g FROM generate_series(1, 100) g`)
	c := newCLI(t, "PGMIMEO_SRC="+b.SourceDSN, "PGMIMEO_DST="+b.DestDSN)
	file := c.writeFile("jobs.yaml", jobsFile("1s", 0, "id"))
	jobLog := func() []string {
		return pgtest.Rows(t, b.Dest, `SELECT job_id, job_name, status FROM jobmon.job_log`)
	}

	// Plan, then apply: six jobs made, their data pulled.
	out := c.ok("plan", "-f", file)
	require.Equal(t, 6, strings.Count(out, ": would create"), out)
	out = c.ok("apply", "-f", file)
	require.Equal(t, 6, strings.Count(out, ": created"), out)
	require.Empty(t, differing(t, b.Source, b.Dest))
	require.NotContains(t, out+strings.Join(jobLog(), "\n"), "FAILED")
	stored := strings.Join(pgtest.Rows(t, b.Dest, `SELECT name, conninfo FROM mimeo.sources`), " ")
	require.Contains(t, stored, "(app,")
	if pw := password(t, b.SourceDSN); pw != "" {
		require.NotContains(t, stored, pw, "the catalog keeps no password")
	}

	// Again: nothing changes, nothing is logged.
	logged, jobs := jobLog(), pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo.jobs`)
	out = c.ok("apply", "-f", file)
	require.Equal(t, 6, strings.Count(out, ": unchanged"), out)
	require.Contains(t, out, "nothing to do")
	out = c.ok("plan", "-f", file)
	require.Contains(t, out, "nothing to do")
	require.Equal(t, logged, jobLog())
	require.Equal(t, jobs, pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo.jobs`))

	// A period and a batch limit change in place.
	c.writeFile("jobs.yaml", jobsFile("2s", 1000, "id"))
	out = c.ok("plan", "-f", file)
	require.Contains(t, out, `"public"."prices" (snapshot): would change period`)
	require.Contains(t, out, `"public"."events" (inserter): would change batch_limit`)
	out = c.ok("apply", "-f", file)
	require.Contains(t, out, `"public"."prices" (snapshot): changed period`)
	require.Contains(t, out, `"public"."events" (inserter): changed batch_limit`)
	require.Equal(t, []string{`(events,00:00:01,1000)`, `(prices,00:00:02,)`}, pgtest.Rows(t, b.Dest,
		`SELECT dest_table, period, config->>'batch_limit' FROM mimeo.jobs WHERE dest_table IN ('prices', 'events')`))
	require.Equal(t, logged, jobLog())

	// Another key needs a rebuild: refused, named, nothing changed.
	jobs = pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo.jobs`)
	c.writeFile("jobs.yaml", jobsFile("2s", 1000, "code"))
	for _, cmd := range []string{"plan", "apply"} {
		out, errOut, code := c.run(cmd, "-f", file)
		require.Equal(t, exitRebuild, code, out+errOut)
		require.Contains(t, out, `"public"."orders" (dml): needs a rebuild: table "public"."orders": key is`)
		require.Contains(t, out, "destroy the job and apply the file again")
	}
	require.Equal(t, jobs, pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo.jobs`))
	c.writeFile("jobs.yaml", jobsFile("2s", 1000, "id"))

	// The worker runs while the source changes, until the destination has
	// caught up; SIGTERM stops it cleanly.
	healthAddr := freeAddr(t)
	worker, workerOut := c.start("run", "-f", file, "--poll", "200ms", "--grace", "20s", "--health", healthAddr)
	for r := 1; r <= 15; r++ {
		change(t, b.Source, r)
		time.Sleep(150 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(differing(t, b.Source, b.Dest)) == 0 }, 90*time.Second, 250*time.Millisecond,
		"still differing: %v\n%s", differing(t, b.Source, b.Dest), workerOut)
	resp, err := http.Get("http://" + healthAddr + "/ready")
	require.NoError(t, err)
	var ready check.HealthAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%+v", ready)
	require.Len(t, ready.Jobs, 6)
	require.Equal(t, 0, stop(t, worker), workerOut.String())
	require.NotContains(t, workerOut.String(), "failed", workerOut.String())

	out = c.ok("status", "-f", file, "--json")
	var status []jobStatus
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	require.Len(t, status, 6)
	for _, s := range status {
		require.Equal(t, stateFresh, s.State, "%+v", s)
		require.NotNil(t, s.LastOK)
		require.NotNil(t, s.LagSeconds, "%+v", s)
		require.Less(t, *s.LagSeconds, 60.0, "%+v", s)
		require.Equal(t, "ok", s.LagLevel)
	}
	out = c.ok("status", "-f", file)
	require.Contains(t, out, "JOB")
	require.Equal(t, 6, strings.Count(out, " fresh "), out)

	// validate finds a tampered row; repair fixes it.
	pgtest.MustExec(t, b.Dest, `UPDATE public.orders SET total = total + 1 WHERE id = 7`)
	out, errOut, code := c.run("validate", "-f", file, "public.orders")
	require.Equal(t, exitDifferent, code, out+errOut)
	require.Contains(t, out, "key range(s) differ")
	out = c.ok("repair", "-f", file, "public.orders")
	require.Contains(t, out, "repaired")
	require.Empty(t, differing(t, b.Source, b.Dest))
	out = c.ok("validate", "-f", file, "--all")
	require.Equal(t, 6, strings.Count(out, "checksum: equal"), out)

	// Ten restarts of the worker leave the check OK.
	for i := range 10 {
		w, wout := c.start("run", "-f", file, "--poll", "100ms")
		change(t, b.Source, 20+i)
		time.Sleep(time.Duration(300+100*i) * time.Millisecond)
		require.Equal(t, 0, stop(t, w), wout.String())
	}
	out = c.ok("check", "-f", file)
	require.True(t, strings.HasPrefix(out, "JOBMON OK - "), out)

	// destroy leaves nothing behind on either side.
	out = c.ok("destroy", "--all", "--yes", "-f", file)
	require.Equal(t, 6, strings.Count(out, "destroyed"), out)
	require.Equal(t, []string{"(0)"}, pgtest.Rows(t, b.Dest, `SELECT count(*) FROM mimeo.jobs`))
	require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT proname FROM pg_proc WHERE pronamespace = 'mimeo_queue'::regnamespace`))
	require.Equal(t, []string{"(queues)", "(schema_version)"}, pgtest.Rows(t, b.Source,
		`SELECT relname FROM pg_class WHERE relnamespace = 'mimeo_queue'::regnamespace AND relkind = 'r'`))
	require.Equal(t, []string{"(0)"}, pgtest.Rows(t, b.Source, `SELECT count(*) FROM mimeo_queue.queues`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))
	out = c.ok("check", "-f", file)
	require.True(t, strings.HasPrefix(out, "JOBMON OK - "), out)
	_ = ctx
}
