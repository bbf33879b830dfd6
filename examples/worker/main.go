// Command worker is a long-running pgmimeo worker: it runs the scheduled
// jobs of a destination database's catalog (package replication/scheduler)
// until it gets SIGINT or SIGTERM, then lets the refreshes in flight finish
// for up to -grace and exits 0. Start as many workers as you like, on as
// many machines: they share the jobs through the catalog, and when one dies
// the others take its jobs over.
//
// With no -dest (and no -config) it starts a throwaway PostgreSQL server,
// sets up three demo jobs whose source keeps changing, runs them for ten
// seconds, and shows what happened:
//
//	go run ./examples/worker
//
// On a real destination, configured by flags or by a JSON file (see
// README.md):
//
//	go run ./examples/worker -dest postgres://worker@db/reporting -concurrency 4
//	go run ./examples/worker -config /etc/pgmimeo/worker.json
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run is the worker: it returns when ctx ends (a signal), -for has passed,
// or (-once) the due jobs have run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args)
	if err != nil {
		return err
	}
	if c.Dest == "" {
		if c.DemoSource != "" {
			return errors.New("-demo-source needs -dest")
		}
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a throwaway PostgreSQL server: %w (or give -dest)", err)
		}
		defer func() {
			_ = srv.Stop()
			fmt.Fprintln(stdout, "Stopped the throwaway server.")
		}()
		if c.DemoSource, c.Dest, err = throwawayDatabases(ctx, srv); err != nil {
			return err
		}
		if c.For == 0 && !c.Once {
			c.For = duration(10 * time.Second)
		}
		fmt.Fprintf(stdout, "Throwaway server (%s) with databases worker_source and worker_dest.\n", srv)
	}

	dest, err := openDest(ctx, c.Dest, c.Concurrency)
	if err != nil {
		return err
	}
	defer dest.Close()
	cfg := &scheduler.Config{
		// The kinds this worker runs: every kind of the module.
		Methods:     []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method},
		Concurrency: c.Concurrency, BatchLimit: c.BatchLimit, Jitter: c.Jitter.d(), Backoff: c.Backoff.d(),
		MaxBackoff: c.MaxBackoff.d(), PollInterval: c.Poll.d(), ShutdownGrace: c.Grace.d(), Catalog: c.Catalog,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	}
	for _, k := range c.Kinds {
		cfg.Kinds = append(cfg.Kinds, replication.Kind(k))
	}
	for _, t := range c.Tables {
		tbl, err := replication.ParseTable(t)
		if err != nil {
			return fmt.Errorf("table %q: %w", t, err)
		}
		cfg.Tables = append(cfg.Tables, tbl)
	}
	if c.JobmonSchema != "-" {
		log, err := jobmon.Open(ctx, c.Dest, &jobmon.Config{Schema: c.JobmonSchema})
		if err != nil {
			return err
		}
		defer log.Close()
		if err := log.Migrate(ctx); err != nil {
			return err
		}
		cfg.JobLog = log
	}
	sources := newSourcePools(c.Sources)
	defer sources.close()
	cfg.Connect = sources.connect

	var demo *demoJobs
	if c.DemoSource != "" {
		src, err := pgxpool.New(ctx, c.DemoSource)
		if err != nil {
			return fmt.Errorf("demo source %s: %w", replication.RedactDSN(c.DemoSource), err)
		}
		defer src.Close()
		sources.add(demoSourceName, src)
		if demo, err = setUpDemo(ctx, src, dest, cfg.JobLog, stdout); err != nil {
			return err
		}
		defer demo.remove(context.WithoutCancel(ctx), stdout)
		demo.keepChanging(ctx)
		cfg.OnRun = demo.onRun
	}

	s, err := scheduler.New(dest, cfg)
	if err != nil {
		return err
	}
	runCtx := ctx
	if c.For > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.For.d())
		defer cancel()
	}
	if c.Once {
		fmt.Fprintf(stdout, "Worker %s running the jobs due now (concurrency %d)…\n", s.WorkerID(), c.Concurrency)
		err = s.RunDue(runCtx)
	} else {
		fmt.Fprintf(stdout, "Worker %s running (concurrency %d); stop it with Ctrl-C or SIGTERM.\n", s.WorkerID(), c.Concurrency)
		err = s.Run(runCtx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Worker %s stopped.\n", s.WorkerID())
	if demo != nil {
		return demo.report(context.WithoutCancel(ctx), s, stdout)
	}
	return nil
}

// openDest opens the destination pool: enough connections for the
// refreshes, the bookkeeping and the job log, and TCP keepalives so that
// the server soon lets go the locks of a worker whose machine vanished.
func openDest(ctx context.Context, dsn string, concurrency int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not pgconn's error: its text may quote part of the password.
		return nil, fmt.Errorf("destination %s: cannot parse the connection string", replication.RedactDSN(dsn))
	}
	cfg.MaxConns = max(cfg.MaxConns, int32(3*concurrency+2))
	params := cfg.ConnConfig.RuntimeParams
	for k, v := range map[string]string{"application_name": "pgmimeo worker",
		"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "4"} {
		if _, ok := params[k]; !ok {
			params[k] = v
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", replication.RedactDSN(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("destination %s: %w", replication.RedactDSN(dsn), err)
	}
	return pool, nil
}
