package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func spoolFile(spool bool) string {
	return fmt.Sprintf(`destination: ${PGMIMEO_DST}
sources:
  app:
    dsn: ${PGMIMEO_SRC}
jobs:
  - kind: dml
    table: public.ledger
    capture: logical
    spool: %t
    period: 1s
  - kind: logdel
    table: public.notes
    capture: logical
    spool: %[1]t
    period: 1s
`, spool)
}

// TestRunSpools: jobs declared with spool: true get a Spool each from
// "pgmimeo run", which reads their slots between the refreshes while the
// source changes; the worker's scheduled refreshes bring both
// destinations to the source's rows (logdel's deleted rows kept). Turning
// spool off is a change in place, after which the worker runs no Spool;
// SIGTERM stops the Spools with the worker.
func TestRunSpools(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `
		CREATE TABLE public.ledger (id int PRIMARY KEY, amount numeric(12,2) NOT NULL, memo text);
		CREATE TABLE public.notes (id int PRIMARY KEY, note text);
		ALTER TABLE public.notes REPLICA IDENTITY FULL;
		INSERT INTO public.ledger SELECT g, g * 1.25, 'm' || g FROM generate_series(1, 200) g;
		INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 100) g`)
	c := newCLI(t, "PGMIMEO_SRC="+b.SourceDSN, "PGMIMEO_DST="+b.DestDSN)
	file := c.writeFile("jobs.yaml", spoolFile(true))
	out := c.ok("apply", "-f", file)
	require.Equal(t, 2, strings.Count(out, ": created"), out)
	require.Equal(t, []string{"(ledger,true)", "(notes,true)"}, pgtest.Rows(t, b.Dest,
		`SELECT dest_table, config->>'spool' FROM mimeo.jobs ORDER BY 1`))

	holders := func() int { return len(pgtest.Rows(t, b.Dest, spoolerLocks)) }
	worker, workerOut := c.start("run", "-f", file, "--poll", "100ms")
	require.Eventually(t, func() bool { return holders() == 2 }, time.Minute, 50*time.Millisecond, "the Spools did not start: %s", workerOut)
	for r := 1; r <= 10; r++ {
		pgtest.MustExec(t, b.Source, fmt.Sprintf(`
			UPDATE public.ledger SET amount = amount + 1 WHERE id %% 10 = %[1]d;
			INSERT INTO public.ledger VALUES (1000 + %[1]d, %[1]d, NULL);
			DELETE FROM public.ledger WHERE id = %[1]d * 3;
			UPDATE public.notes SET note = note || '+' WHERE id = %[1]d + 50;
			DELETE FROM public.notes WHERE id = %[1]d`, r))
		time.Sleep(100 * time.Millisecond)
	}
	same := func() bool {
		return fmt.Sprint(pgtest.Rows(t, b.Source, `SELECT * FROM public.ledger`)) == fmt.Sprint(pgtest.Rows(t, b.Dest, `SELECT * FROM public.ledger`)) &&
			fmt.Sprint(pgtest.Rows(t, b.Source, `SELECT * FROM public.notes`)) ==
				fmt.Sprint(pgtest.Rows(t, b.Dest, `SELECT id, note FROM public.notes WHERE mimeo_source_deleted IS NULL`))
	}
	require.Eventually(t, same, 90*time.Second, 250*time.Millisecond, "still differing:\n%s", workerOut)
	require.Equal(t, []string{"(10)"}, pgtest.Rows(t, b.Dest, `SELECT count(*) FROM public.notes WHERE mimeo_source_deleted IS NOT NULL`))
	require.Equal(t, 0, stop(t, worker), workerOut.String())
	require.NotContains(t, workerOut.String(), "failed", workerOut.String())
	require.Zero(t, holders(), "the Spools stop with the worker")

	c.writeFile("jobs.yaml", spoolFile(false))
	out = c.ok("plan", "-f", file)
	require.Contains(t, out, `"public"."ledger" (dml): would change spool`)
	out = c.ok("apply", "-f", file)
	require.Equal(t, 2, strings.Count(out, "changed spool"), out)
	worker, workerOut = c.start("run", "-f", file, "--poll", "100ms")
	pgtest.MustExec(t, b.Source, `INSERT INTO public.ledger VALUES (5000, 1, 'after'); DELETE FROM public.notes WHERE id = 99`)
	require.Eventually(t, same, 90*time.Second, 250*time.Millisecond, "still differing:\n%s", workerOut)
	require.Zero(t, holders(), "no job asks for a Spool")
	require.Equal(t, 0, stop(t, worker), workerOut.String())
}

// spoolerLocks lists the sessions that hold a Spool's lock (dml's class
// "splr") in the destination database.
const spoolerLocks = `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = x'73706c72'::int::oid AND granted
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
