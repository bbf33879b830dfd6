// Command sharding fans one source table out to four destinations by row
// conditions: shard k receives the rows with id % 4 = k, each through a
// table job of its own (snapshot.Table with Options.Condition). It sets the
// shards up, changes the source, refreshes the four shards at once, and
// checks that the union of the shards equals the source, row by row, with
// every row on the right shard.
//
// With no flags it starts a throwaway PostgreSQL server with a source
// database and four shard databases:
//
//	go run ./examples/sharding
//
// On real databases (it creates, and at the end removes,
// public.sharding_orders on the source and on each shard):
//
//	go run ./examples/sharding -source postgres://app@prod/shop \
//	    -shard postgres://me@shard0/shop -shard postgres://me@shard1/shop \
//	    -shard postgres://me@shard2/shop -shard postgres://me@shard3/shop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// shards is how many destinations the table is fanned out to.
const shards = 4

// table is the source table, and each shard's table.
var table = replication.T("public", "sharding_orders")

// shardList collects the -shard flags.
type shardList []string

func (s *shardList) String() string { return fmt.Sprint(len(*s), " shards") }

func (s *shardList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sharding:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sharding", flag.ContinueOnError)
	sourceDSN := fs.String("source", "", "source database DSN (default: a throwaway local server)")
	var shardDSNs shardList
	fs.Var(&shardDSNs, "shard", "shard database DSN, given four times, for shards 0 to 3")
	rows := fs.Int("rows", 100_000, "rows in the source table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *sourceDSN == "" && len(shardDSNs) == 0:
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a PostgreSQL server: %w (or give -source and four -shard)", err)
		}
		defer func() {
			_ = srv.Stop()
			fmt.Fprintln(stdout, "Stopped the throwaway server.")
		}()
		if *sourceDSN, shardDSNs, err = throwawayDatabases(ctx, srv); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Throwaway server (%s) with databases shop and shard_0 … shard_3.\n", srv)
	case *sourceDSN == "" || len(shardDSNs) != shards:
		return fmt.Errorf("give -source and -shard exactly %d times, or neither", shards)
	}
	if *rows < 100 {
		return errors.New("-rows must be at least 100")
	}

	source, err := pgxpool.New(ctx, *sourceDSN)
	if err != nil {
		return fmt.Errorf("source %s: %w", replication.RedactDSN(*sourceDSN), err)
	}
	defer source.Close()
	dests := make([]*pgxpool.Pool, shards)
	for k, dsn := range shardDSNs {
		if dests[k], err = pgxpool.New(ctx, dsn); err != nil {
			return fmt.Errorf("shard %d %s: %w", k, replication.RedactDSN(dsn), err)
		}
		defer dests[k].Close()
	}

	fmt.Fprintf(stdout, "Creating %s with %d orders…\n", table, *rows)
	if err := createSource(ctx, source, *rows); err != nil {
		return err
	}
	jobs := make([]*snapshot.Table, 0, shards)
	defer func() {
		cctx := context.WithoutCancel(ctx)
		for _, j := range jobs {
			if err := j.Destroy(cctx, nil); err != nil {
				fmt.Fprintln(stdout, "cleanup:", err)
			}
		}
		_, _ = source.Exec(cctx, "DROP TABLE IF EXISTS "+table.Sanitize())
		fmt.Fprintln(stdout, "Removed the shards' tables, their jobs and the source table.")
	}()
	for k := range shards {
		// Shard k gets the rows with id % 4 = k; the catalog in each shard
		// records the job, with its condition, for workers to refresh.
		j, err := snapshot.NewTable(source, dests[k], table, &snapshot.TableConfig{Options: replication.Options{
			Condition: fmt.Sprintf("id %% %d = %d", shards, k), SourceName: "shop", Period: time.Minute}})
		if err != nil {
			return err
		}
		if err := j.Setup(ctx); err != nil {
			return fmt.Errorf("set up shard %d: %w", k, err)
		}
		jobs = append(jobs, j)
	}
	fmt.Fprintf(stdout, "Set up %d shards of %s (condition id %% %d = k).\n", shards, table, shards)
	if err := checkShards(ctx, source, dests, stdout); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "Changing the source: 2% of the orders updated, 1% deleted, 1% new…")
	if err := changeSource(ctx, source, *rows); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Refreshing the four shards at once…")
	results := make([]replication.Result, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for k, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k], errs[k] = j.Refresh(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for k, r := range results {
		fmt.Fprintf(stdout, "  shard %d: %s\n", k, r)
	}
	if err := checkShards(ctx, source, dests, stdout); err != nil {
		return err
	}
	return checksums(ctx, source, dests, stdout)
}

// throwawayDatabases makes the source and shard databases.
func throwawayDatabases(ctx context.Context, srv *pgmimeotest.Server) (string, []string, error) {
	names := []string{"shop"}
	for k := range shards {
		names = append(names, fmt.Sprintf("shard_%d", k))
	}
	dsns, err := srv.CreateDatabases(ctx, names...)
	if err != nil {
		return "", nil, err
	}
	return dsns[0], dsns[1:], nil
}

// createSource makes the source table of orders.
func createSource(ctx context.Context, source *pgxpool.Pool, rows int) error {
	_, err := source.Exec(ctx, `CREATE TABLE `+table.Sanitize()+` (
		id          bigint PRIMARY KEY,
		customer_id int NOT NULL,
		status      text NOT NULL,
		total       numeric(12,2) NOT NULL,
		placed      timestamptz NOT NULL,
		note        text)`)
	if err != nil {
		return fmt.Errorf("create %s: %w", table, err)
	}
	_, err = source.Exec(ctx, `INSERT INTO `+table.Sanitize()+`
		SELECT g, 1 + (g * 7919) % 5000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], round((g % 997) * 1.37, 2),
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', CASE WHEN g % 11 = 0 THEN 'gift' END
		FROM generate_series(1, $1::int) g`, rows)
	if err != nil {
		return fmt.Errorf("fill %s: %w", table, err)
	}
	return nil
}

// changeSource updates, deletes and inserts orders, across every shard.
func changeSource(ctx context.Context, source *pgxpool.Pool, rows int) error {
	t := table.Sanitize()
	for _, q := range []string{
		`UPDATE ` + t + ` SET status = 'refunded', total = total / 2 WHERE id % 50 = 7`,
		`DELETE FROM ` + t + ` WHERE id % 100 = 13`,
		`INSERT INTO ` + t + ` SELECT $1::int + g, 42, 'new', g, now(), 'late' FROM generate_series(1, $1::int / 100) g`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, rows)
		}
		if _, err := source.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("change source: %w", err)
		}
	}
	return nil
}
