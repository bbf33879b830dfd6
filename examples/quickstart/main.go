// Command quickstart shows pgmimeo's main job, a snapshot, end to end: it
// creates a source table with realistic rows, sets up a snapshot of it in
// another database, changes the source, refreshes, prints what happened and
// cleans up.
//
// With no flags it starts a throwaway PostgreSQL server of its own (from
// $PGMIMEO_TEST_DSN, Docker, or the PostgreSQL binaries on the machine, in
// that order) and stops it at the end:
//
//	go run ./examples/quickstart
//
// With -source and -dest it works on real databases instead, creating (and
// at the end removing) the table public.quickstart_orders on the source, the
// view public.quickstart_orders with its two tables on the destination, and
// the job catalog schema "mimeo" if it was not there:
//
//	go run ./examples/quickstart -source postgres://app@prod/shop -dest postgres://me@localhost/reporting
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// table is the quickstart's source table, and its snapshot's name.
var table = replication.T("public", "quickstart_orders")

// sourceName is the name of the source in the job catalog.
const sourceName = "pgmimeo-quickstart"

func main() {
	sourceDSN := flag.String("source", "", "source database DSN (default: a throwaway local server)")
	destDSN := flag.String("dest", "", "destination database DSN (default: a throwaway local server)")
	rows := flag.Int("rows", 300_000, "rows in the source table")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, *sourceDSN, *destDSN, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sourceDSN, destDSN string, rows int) error {
	if (sourceDSN == "") != (destDSN == "") {
		return errors.New("give both -source and -dest, or neither")
	}
	if rows < 1000 {
		return errors.New("-rows must be at least 1000")
	}
	if sourceDSN == "" {
		fmt.Println("Starting a throwaway PostgreSQL server…")
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a PostgreSQL server: %w (or give -source and -dest)", err)
		}
		defer func() {
			_ = srv.Stop()
			fmt.Println("Stopped the throwaway server.")
		}()
		dsns, err := srv.CreateDatabases(ctx, "quickstart_source", "quickstart_dest")
		if err != nil {
			return err
		}
		sourceDSN, destDSN = dsns[0], dsns[1]
		fmt.Printf("Server (%s), databases quickstart_source and quickstart_dest.\n", srv)
	}
	source, err := pgxpool.New(ctx, sourceDSN)
	if err != nil {
		return fmt.Errorf("source %s: %w", replication.RedactDSN(sourceDSN), err)
	}
	defer source.Close()
	dest, err := pgxpool.New(ctx, destDSN)
	if err != nil {
		return fmt.Errorf("destination %s: %w", replication.RedactDSN(destDSN), err)
	}
	defer dest.Close()

	catalogExisted, err := schemaExists(ctx, dest, replication.DefaultCatalogSchema)
	if err != nil {
		return err
	}
	if err := createSource(ctx, source, rows); err != nil {
		return err
	}
	// From here on, clean up whatever happens.
	var snap *snapshot.Snapshot
	defer func() {
		cctx := context.WithoutCancel(ctx)
		if snap != nil {
			if err := snap.Destroy(cctx, nil); err != nil && !errors.Is(err, replication.ErrNotManaged) {
				fmt.Println("cleanup: destroy snapshot:", err)
			}
		}
		if catalogExisted {
			_, _ = dest.Exec(cctx, "DELETE FROM "+replication.T(replication.DefaultCatalogSchema, "sources").Sanitize()+" WHERE name = $1", sourceName)
		} else {
			_, _ = dest.Exec(cctx, "DROP SCHEMA IF EXISTS "+replication.QuoteIdent(replication.DefaultCatalogSchema)+" CASCADE")
		}
		_, _ = source.Exec(cctx, "DROP TABLE IF EXISTS "+table.Sanitize())
		fmt.Println("Cleaned up the source table, the snapshot and its catalog entry.")
	}()

	cfg := &snapshot.Config{
		// The catalog records where the source is under this name.
		Options: replication.Options{SourceName: sourceName},
		LoadOptions: snapshot.LoadOptions{
			Progress:      func(b int64) { fmt.Printf("    … %d MB copied\n", b>>20) },
			ProgressEvery: 8 << 20,
		},
	}
	// Every setup and refresh leaves a job in pg_jobmon's tables on the
	// destination (schema "jobmon"), written through the logger's own
	// connection so that it survives a failed refresh's rollback.
	jobs, err := jobmon.Open(ctx, destDSN, nil)
	if err != nil {
		return err
	}
	defer jobs.Close()
	if err := jobs.Migrate(ctx); err != nil {
		return err
	}
	cfg.JobLog = jobs
	snap, err = snapshot.New(source, dest, table, cfg)
	if err != nil {
		return err
	}

	fmt.Printf("Setting up a snapshot of %s…\n", table)
	start := time.Now()
	if err := snap.Setup(ctx); err != nil {
		return err
	}
	fmt.Printf("  done in %v: %s is now a view over %s_snap1 and %s_snap2.\n",
		time.Since(start).Round(time.Millisecond), table, table.Name, table.Name)
	if err := compare(ctx, source, dest); err != nil {
		return err
	}

	fmt.Println("Changing the source: 1% of the orders paid, 0.5% cancelled and deleted, 1% new ones…")
	if err := changeSource(ctx, source, rows); err != nil {
		return err
	}
	fmt.Println("Refreshing…")
	res, err := snap.Refresh(ctx)
	if err != nil {
		return err
	}
	printResult(ctx, jobs, res)
	if err := compare(ctx, source, dest); err != nil {
		return err
	}
	fmt.Println("Refreshing again without changes…")
	res, err = snap.Refresh(ctx)
	if err != nil {
		return err
	}
	printResult(ctx, jobs, res)
	return nil
}

func schemaExists(ctx context.Context, db *pgxpool.Pool, name string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&ok)
	return ok, err
}

// createSource makes the source table: orders of a web shop.
func createSource(ctx context.Context, source *pgxpool.Pool, rows int) error {
	fmt.Printf("Creating %s with %d orders…\n", table, rows)
	_, err := source.Exec(ctx, `CREATE TABLE `+table.Sanitize()+` (
		id          bigint PRIMARY KEY,
		customer_id int NOT NULL,
		status      text NOT NULL,
		amount      numeric(10,2) NOT NULL,
		currency    char(3) NOT NULL,
		created_at  timestamptz NOT NULL,
		note        text)`)
	if err != nil {
		return fmt.Errorf("create %s (is it left from an earlier run? drop it): %w", table, err)
	}
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO `+table.Sanitize()+`
		SELECT g, 1 + (g * 7919) % ($1 / 20), (ARRAY['new','paid','shipped','delivered'])[1 + g % 4],
		       round((5 + (g * 104729) % 50000 / 100.0)::numeric, 2), (ARRAY['EUR','USD','GBP'])[1 + g % 3],
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 seconds',
		       CASE WHEN g % 9 = 0 THEN 'gift wrap, ' || md5(g::text) END
		FROM generate_series(1, $1::bigint) g`, rows)
	batch.Queue(`CREATE INDEX ON ` + table.Sanitize() + ` (customer_id, created_at DESC)`)
	batch.Queue(`ANALYZE ` + table.Sanitize())
	if err := source.SendBatch(ctx, batch).Close(); err != nil {
		_, _ = source.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table.Sanitize())
		return fmt.Errorf("fill %s: %w", table, err)
	}
	return nil
}

// changeSource changes some orders and waits until the source has published
// the statistics the snapshot's refresh reads.
func changeSource(ctx context.Context, source *pgxpool.Pool, rows int) error {
	before, err := changes(ctx, source)
	if err != nil {
		return err
	}
	conn, err := source.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, c := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE ` + table.Sanitize() + ` SET status = 'paid' WHERE status = 'new' AND id % 25 = 0`, nil},
		{`DELETE FROM ` + table.Sanitize() + ` WHERE id % 200 = 1`, nil},
		{`INSERT INTO ` + table.Sanitize() + ` SELECT id + $1, customer_id, 'new', amount, currency, now(), NULL
		  FROM ` + table.Sanitize() + ` WHERE id % 100 = 0`, []any{rows}},
	} {
		if _, err := conn.Exec(ctx, c.sql, c.args...); err != nil {
			return fmt.Errorf("change the source: %w", err)
		}
	}
	// A superuser can make the session publish its statistics at once;
	// otherwise PostgreSQL does within a second or so.
	_, _ = conn.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		after, err := changes(ctx, source)
		if err != nil {
			return err
		}
		if after > before {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the source did not publish its statistics within 30s")
}

func changes(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = $1::regclass`,
		table.Sanitize()).Scan(&n)
	return n, err
}

// compare checks that both sides hold the same rows.
func compare(ctx context.Context, source, dest *pgxpool.Pool) error {
	const sum = `SELECT count(*), md5(string_agg(o::text, ',' ORDER BY id)) FROM %s o`
	var n1, n2 int64
	var h1, h2 string
	if err := source.QueryRow(ctx, fmt.Sprintf(sum, table.Sanitize())).Scan(&n1, &h1); err != nil {
		return err
	}
	if err := dest.QueryRow(ctx, fmt.Sprintf(sum, table.Sanitize())).Scan(&n2, &h2); err != nil {
		return err
	}
	if n1 != n2 || h1 != h2 {
		return fmt.Errorf("source and destination differ: %d rows (md5 %s) vs %d rows (md5 %s)", n1, h1, n2, h2)
	}
	fmt.Printf("  check: source and destination hold the same %d rows (md5 %s).\n", n2, h2)
	return nil
}

func printResult(ctx context.Context, jobs *jobmon.Logger, res replication.Result) {
	if res.Skipped {
		fmt.Printf("  skipped in %v: %s.\n", res.Duration.Round(time.Millisecond), res.SkipReason)
	} else {
		fmt.Printf("  copied %d rows (%.1f MB) in %v (%.0f rows/s), view swapped.\n", res.Inserted,
			float64(res.Bytes)/(1<<20), res.Duration.Round(time.Millisecond), float64(res.Inserted)/res.Duration.Seconds())
	}
	for _, w := range res.Warnings {
		fmt.Println("  warning:", w)
	}
	printJobLog(ctx, jobs)
}

// printJobLog prints the newest job in the jobmon log and its steps, as a
// DBA would see them with pg_jobmon's show_job and show_detail.
func printJobLog(ctx context.Context, jobs *jobmon.Logger) {
	latest, err := jobs.ShowJobLike(ctx, ".", 1)
	if err != nil || len(latest) == 0 {
		fmt.Println("  jobmon: no job found:", err)
		return
	}
	j := latest[0]
	fmt.Printf("  jobmon job %d %q: %s\n", j.ID, j.Name, j.Status)
	steps, err := jobs.ShowDetail(ctx, j.ID)
	if err != nil {
		fmt.Println("  jobmon:", err)
		return
	}
	for _, st := range steps {
		fmt.Printf("    %-8s %6v  %s: %s\n", st.Status, st.Elapsed.Round(time.Millisecond), st.Action, st.Message)
	}
}
