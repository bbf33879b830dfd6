package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// A cron job runs the catalog's due jobs once and exits, as mimeo's
// run_refresh.py did; a long-running worker calls Run instead.
func ExampleScheduler_RunDue() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	src, dest := dbs.Pools[0], dbs.Pools[1]
	if _, err := src.Exec(ctx, `CREATE TABLE public.rates (currency text PRIMARY KEY, rate numeric);
		INSERT INTO public.rates VALUES ('EUR', 1.08), ('GBP', 1.27)`); err != nil {
		fmt.Println(err)
		return
	}
	// The job is set up once, with its period and the name of its source.
	snap, err := snapshot.New(src, dest, replication.T("public", "rates"), &snapshot.Config{
		Options: replication.Options{SourceName: "fx", Period: time.Hour}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := snap.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// (The snapshot sees the change in the source's statistics, which a
	// session sends within a second; this one sends them at once.)
	if _, err := src.Exec(ctx, `UPDATE public.rates SET rate = 1.09 WHERE currency = 'EUR';
		SELECT pg_stat_force_next_flush()`); err != nil {
		fmt.Println(err)
		return
	}
	// An hour later (here: at once) a worker that knows only the
	// destination runs it.
	if _, err := dest.Exec(ctx, `UPDATE mimeo.jobs SET last_run = now() - interval '1 hour'`); err != nil {
		fmt.Println(err)
		return
	}
	s, err := scheduler.New(dest, &scheduler.Config{
		Methods: []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method},
		Connect: func(ctx context.Context, name string) (*pgxpool.Pool, error) { return src, nil },
		OnRun: func(o scheduler.Outcome) {
			fmt.Printf("%s job %s: err=%v inserted=%d\n", o.Kind, o.Dest, o.Err, o.Result.Inserted)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.RunDue(ctx); err != nil {
		fmt.Println(err)
		return
	}
	var rate string
	if err := dest.QueryRow(ctx, `SELECT rate::text FROM public.rates WHERE currency = 'EUR'`).Scan(&rate); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("EUR", rate)
	// Output:
	// snapshot job "public"."rates": err=<nil> inserted=2
	// EUR 1.09
}

// A DBA finds a copy that someone changed by hand and repairs just the key
// ranges that differ, in the job's own way, then checks again.
func ExampleRepair() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	src, dest := dbs.Pools[0], dbs.Pools[1]
	if _, err := src.Exec(ctx, `CREATE TABLE public.accounts AS SELECT g AS id, g * 10 AS balance FROM generate_series(1, 10000) g;
		ALTER TABLE public.accounts ADD PRIMARY KEY (id)`); err != nil {
		fmt.Println(err)
		return
	}
	tbl, err := snapshot.NewTable(src, dest, replication.T("public", "accounts"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := tbl.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := dest.Exec(ctx, `UPDATE public.accounts SET balance = 0 WHERE id = 4242;
		DELETE FROM public.accounts WHERE id = 77`); err != nil {
		fmt.Println(err)
		return
	}
	report, err := scheduler.Repair(ctx, src, dest, replication.T("public", "accounts"),
		&scheduler.RepairConfig{Methods: []replication.Method{snapshot.TableMethod}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range report.Before.Ranges {
		for _, row := range r.Rows {
			fmt.Printf("differed: key %v %s\n", row.Key, row.Change)
		}
	}
	fmt.Println("rows re-pulled:", report.Repair.Inserted)
	fmt.Println("repaired:", report.Repaired())
	// Output:
	// differed: key [77] missing
	// differed: key [4242] changed
	// rows re-pulled: 78
	// repaired: true
}
