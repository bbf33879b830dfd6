// Command service is the shape of a Go service that owns its replication
// jobs: at every start it ensures them (creates the missing ones, changes
// in place what changed, and writes and logs nothing for a job that is as
// declared), then a scheduler refreshes them until the service is stopped.
// Restarting it any number of times leaves check_job_status OK.
//
//	go run ./examples/service                 # a throwaway server, demo tables, one round
//	go run ./examples/service -source postgres://app@prod/shop -dest postgres://me@localhost/reporting -demo -for 1h
//
// With -demo it creates its three demo source tables when they are
// missing (service_prices, service_events, service_orders) and changes a
// few rows at each start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

const sourceName = "service-demo"

func main() {
	sourceDSN := flag.String("source", "", "source database DSN (default: a throwaway local server, with -demo)")
	destDSN := flag.String("dest", "", "destination database DSN (default: a throwaway local server)")
	demo := flag.Bool("demo", false, "create the demo source tables when missing, and change some rows")
	runFor := flag.Duration("for", 0, "how long to run the scheduler (0: one round of due jobs, then exit)")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *sourceDSN, *destDSN, *demo, *runFor); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sourceDSN, destDSN string, demo bool, runFor time.Duration) error {
	if (sourceDSN == "") != (destDSN == "") {
		return errors.New("give both -source and -dest, or neither")
	}
	if sourceDSN == "" {
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a PostgreSQL server: %w (or give -source and -dest)", err)
		}
		defer func() { _ = srv.Stop() }()
		dsns, err := srv.CreateDatabases(ctx, "service_source", "service_dest")
		if err != nil {
			return err
		}
		sourceDSN, destDSN, demo = dsns[0], dsns[1], true
	}
	source, err := pgxpool.New(ctx, sourceDSN)
	if err != nil {
		return err
	}
	defer source.Close()
	dest, err := pgxpool.New(ctx, destDSN)
	if err != nil {
		return err
	}
	defer dest.Close()
	log, err := jobmon.New(dest, nil)
	if err != nil {
		return err
	}
	if err := log.Migrate(ctx); err != nil {
		return err
	}
	if demo {
		if err := demoTables(ctx, source); err != nil {
			return err
		}
	}
	tables, err := ensureJobs(ctx, source, dest, log)
	if err != nil {
		return err
	}
	s, err := scheduler.New(dest, &scheduler.Config{
		Methods: []replication.Method{snapshot.Method, incremental.Method, dml.Method},
		Connect: func(_ context.Context, name string) (*pgxpool.Pool, error) {
			if name != sourceName {
				return nil, fmt.Errorf("unknown source %q", name)
			}
			return source, nil
		},
		Tables:   tables, // this service's jobs only; Concurrency is sized from dest's pool
		JobLog:   log,
		OnRun:    func(o scheduler.Outcome) { fmt.Printf("refreshed %s: %v\n", o.Dest, o.Err) },
		WorkerID: "service",
	})
	if err != nil {
		return err
	}
	if runFor == 0 {
		return s.RunDue(ctx)
	}
	ctx, stop := context.WithTimeout(ctx, runFor)
	defer stop()
	return s.Run(ctx)
}

// ensureJobs declares the service's jobs: Ensure makes each exist as
// declared, whatever the catalog held before this start.
func ensureJobs(ctx context.Context, source, dest *pgxpool.Pool, log *jobmon.Logger) ([]replication.Table, error) {
	opts := replication.Options{SourceName: sourceName, JobLog: log, Period: time.Minute}
	prices, err := snapshot.New(source, dest, replication.T("public", "service_prices"), &snapshot.Config{Options: opts})
	if err != nil {
		return nil, err
	}
	events, err := incremental.NewInserter(source, dest, replication.T("public", "service_events"),
		&incremental.Config{Options: opts, Control: "at"})
	if err != nil {
		return nil, err
	}
	orders, err := dml.New(source, dest, replication.T("public", "service_orders"), &dml.Config{Options: opts})
	if err != nil {
		return nil, err
	}
	var tables []replication.Table
	for _, job := range []interface {
		Ensure(context.Context) (replication.Ensured, error)
		Dest() replication.Table
	}{prices, events, orders} {
		got, err := job.Ensure(ctx)
		if err != nil {
			return nil, err
		}
		fmt.Printf("ensured %s: created %v, changed %v\n", job.Dest(), got.Created, got.Changed)
		tables = append(tables, job.Dest())
	}
	return tables, nil
}

// demoTables creates the demo source tables when missing and changes a
// few rows.
func demoTables(ctx context.Context, source *pgxpool.Pool) error {
	_, err := source.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS public.service_prices (sku text PRIMARY KEY, price numeric(10,2) NOT NULL);
		CREATE TABLE IF NOT EXISTS public.service_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			at timestamptz NOT NULL DEFAULT now(), what text);
		CREATE TABLE IF NOT EXISTS public.service_orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2));
		INSERT INTO public.service_prices SELECT 'SKU-' || g, g FROM generate_series(1, 100) g
			ON CONFLICT (sku) DO UPDATE SET price = service_prices.price + 1;
		INSERT INTO public.service_events (at, what) SELECT now() - interval '1 hour', 'start ' || g FROM generate_series(1, 20) g;
		INSERT INTO public.service_orders SELECT g, 'new', g FROM generate_series(1, 100) g
			ON CONFLICT (id) DO UPDATE SET status = 'seen', total = service_orders.total + 1`)
	return err
}
