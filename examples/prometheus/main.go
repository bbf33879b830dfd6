// Command prometheus wires pgmimeo's OpenTelemetry metrics to the
// Prometheus exporter: it sets up a dml and a snapshot job, refreshes them
// while their sources change, and prints what a Prometheus scrape of
// /metrics returns (the pgmimeo_ lines): run durations, rows, bytes,
// failures and skips per job, and each job's lag.
//
//	go run ./examples/prometheus                   # a throwaway server, one scrape printed
//	go run ./examples/prometheus -source postgres://app@db1/shop -dest postgres://me@localhost/reporting -serve :9464
//
// With -serve it keeps serving /metrics on that address until stopped.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func main() {
	sourceDSN := flag.String("source", "", "source database DSN (default: a throwaway local server)")
	destDSN := flag.String("dest", "", "destination database DSN (default: a throwaway local server)")
	serve := flag.String("serve", "", "keep serving /metrics on this address (e.g. :9464) until stopped")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *sourceDSN, *destDSN, *serve, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prometheus:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sourceDSN, destDSN, serve string, out io.Writer) error {
	if (sourceDSN == "") != (destDSN == "") {
		return errors.New("give both -source and -dest, or neither")
	}
	if sourceDSN == "" {
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a PostgreSQL server: %w (or give -source and -dest)", err)
		}
		defer func() { _ = srv.Stop() }()
		dsns, err := srv.CreateDatabases(ctx, "prometheus_source", "prometheus_dest")
		if err != nil {
			return err
		}
		sourceDSN, destDSN = dsns[0], dsns[1]
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

	// The OpenTelemetry meter provider, read by the Prometheus exporter
	// into a registry of our own.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
	reg, err := replication.NewCatalog("").ObserveLag(mp, dest)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()

	if err := demoTables(ctx, source); err != nil {
		return err
	}
	opts := replication.Options{MeterProvider: mp, Period: time.Minute}
	orders, err := dml.New(source, dest, replication.T("public", "metrics_orders"), &dml.Config{Options: opts})
	if err != nil {
		return err
	}
	prices, err := snapshot.New(source, dest, replication.T("public", "metrics_prices"), &snapshot.Config{Options: opts})
	if err != nil {
		return err
	}
	for _, job := range []interface {
		Ensure(context.Context) (replication.Ensured, error)
	}{orders, prices} {
		if _, err := job.Ensure(ctx); err != nil {
			return err
		}
	}
	for round := range 3 {
		if _, err := source.Exec(ctx, `UPDATE public.metrics_orders SET total = total + 1 WHERE id % 3 = $1`, round); err != nil {
			return err
		}
		for _, job := range []replication.Replicator{orders, prices} {
			if _, err := job.Refresh(ctx); err != nil {
				return err
			}
		}
	}

	ln, err := net.Listen("tcp", or(serve, "127.0.0.1:0"))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	if err := scrape(ctx, "http://"+ln.Addr().String()+"/metrics", out); err != nil {
		return err
	}
	if serve != "" {
		fmt.Fprintf(out, "serving http://%s/metrics until stopped\n", ln.Addr())
		<-ctx.Done()
	}
	return nil
}

// scrape prints the pgmimeo lines of a scrape of url.
func scrape(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(out, "GET %s: %s\n", url, resp.Status)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "pgmimeo_") {
			fmt.Fprintln(out, line)
		}
	}
	return sc.Err()
}

// demoTables makes the demo source tables when missing.
func demoTables(ctx context.Context, source *pgxpool.Pool) error {
	_, err := source.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS public.metrics_orders (id int PRIMARY KEY, total numeric(10,2) NOT NULL);
		CREATE TABLE IF NOT EXISTS public.metrics_prices (sku text PRIMARY KEY, price numeric(10,2) NOT NULL);
		INSERT INTO public.metrics_orders SELECT g, g FROM generate_series(1, 300) g ON CONFLICT DO NOTHING;
		INSERT INTO public.metrics_prices SELECT 'SKU-' || g, g FROM generate_series(1, 100) g ON CONFLICT DO NOTHING`)
	return err
}

func or(s, instead string) string {
	if s == "" {
		return instead
	}
	return s
}
