package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// demoSourceName is the catalog name of the demo's source.
const demoSourceName = "worker-demo"

// The demo's tables: one job of each of three kinds.
var (
	demoPrices = replication.T("public", "worker_prices") // snapshot, every 2s
	demoStores = replication.T("public", "worker_stores") // table, every 3s
	demoSales  = replication.T("public", "worker_sales")  // inserter by id, every 1s
)

// throwawayDatabases makes the demo's databases on a throwaway server.
func throwawayDatabases(ctx context.Context, srv *pgmimeotest.Server) (source, dest string, err error) {
	dsns, err := srv.CreateDatabases(ctx, "worker_source", "worker_dest")
	if err != nil {
		return "", "", err
	}
	return dsns[0], dsns[1], nil
}

// demoJobs are the demo's source tables and jobs.
type demoJobs struct {
	src, dest *pgxpool.Pool
	jobs      []replication.Replicator
	stop      context.CancelFunc
	stopped   sync.WaitGroup

	mu   sync.Mutex
	runs map[replication.Table]int
	errs map[replication.Table]int
}

// setUpDemo creates the demo's source tables and sets up a job for each,
// with its period, recording the source under demoSourceName.
func setUpDemo(ctx context.Context, src, dest *pgxpool.Pool, log replication.JobLog, stdout io.Writer) (*demoJobs, error) {
	d := &demoJobs{src: src, dest: dest, runs: map[replication.Table]int{}, errs: map[replication.Table]int{}}
	_, err := src.Exec(ctx, `
		CREATE TABLE `+demoPrices.Sanitize()+` (sku text PRIMARY KEY, price numeric(10,2) NOT NULL, updated timestamptz NOT NULL DEFAULT now());
		INSERT INTO `+demoPrices.Sanitize()+` (sku, price) SELECT 'SKU-' || g, g * 1.25 FROM generate_series(1, 200) g;
		CREATE TABLE `+demoStores.Sanitize()+` (id int PRIMARY KEY, city text NOT NULL);
		INSERT INTO `+demoStores.Sanitize()+` SELECT g, 'City ' || g FROM generate_series(1, 20) g;
		CREATE TABLE `+demoSales.Sanitize()+` (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, sold timestamptz NOT NULL DEFAULT now());
		INSERT INTO `+demoSales.Sanitize()+` (sku, qty) SELECT 'SKU-' || (g % 200 + 1), g % 5 + 1 FROM generate_series(1, 1000) g`)
	if err != nil {
		return nil, fmt.Errorf("create demo tables: %w", err)
	}
	opts := func(period time.Duration) replication.Options {
		return replication.Options{SourceName: demoSourceName, Period: period, JobLog: log}
	}
	zero := int64(0)
	var jobs []replication.Replicator
	snap, err := snapshot.New(src, dest, demoPrices, &snapshot.Config{Options: opts(2 * time.Second)})
	if err == nil {
		jobs = append(jobs, snap)
		var tbl *snapshot.Table
		if tbl, err = snapshot.NewTable(src, dest, demoStores, &snapshot.TableConfig{Options: opts(3 * time.Second)}); err == nil {
			jobs = append(jobs, tbl)
			var ins *incremental.Inserter
			// Rows are inserted one per transaction by one writer, so the
			// id column may be followed without a boundary.
			if ins, err = incremental.NewInserter(src, dest, demoSales, &incremental.Config{Options: opts(time.Second),
				Control: "id", SerialBoundary: &zero}); err == nil {
				jobs = append(jobs, ins)
			}
		}
	}
	if err != nil {
		d.dropSource(context.WithoutCancel(ctx))
		return nil, err
	}
	for _, j := range jobs {
		if err := j.Setup(ctx); err != nil {
			d.remove(context.WithoutCancel(ctx), io.Discard)
			return nil, err
		}
		d.jobs = append(d.jobs, j)
	}
	fmt.Fprintln(stdout, "Demo jobs set up: a snapshot of worker_prices (every 2s), a table copy of worker_stores (every 3s),")
	fmt.Fprintln(stdout, "and an inserter of worker_sales (every 1s); a writer keeps changing their sources.")
	return d, nil
}

// keepChanging writes to the demo's sources until stopChanging.
func (d *demoJobs) keepChanging(ctx context.Context) {
	ctx, d.stop = context.WithCancel(ctx)
	d.stopped.Add(1)
	go func() {
		defer d.stopped.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			q := `INSERT INTO ` + demoSales.Sanitize() + ` (sku, qty) VALUES ('SKU-' || ($1::int % 200 + 1), $1::int % 5 + 1)`
			if i%5 == 0 {
				q = `UPDATE ` + demoPrices.Sanitize() + ` SET price = price + 0.01, updated = now() WHERE sku = 'SKU-' || ($1::int % 200 + 1)`
			}
			if i%20 == 0 {
				q = `INSERT INTO ` + demoStores.Sanitize() + ` VALUES (1000 + $1::int, 'New city ' || $1::int)`
			}
			if _, err := d.src.Exec(ctx, q, i); err != nil && ctx.Err() == nil {
				fmt.Println("demo writer:", err)
			}
		}
	}()
}

// stopChanging stops the writer and waits for it.
func (d *demoJobs) stopChanging() {
	if d.stop != nil {
		d.stop()
	}
	d.stopped.Wait()
}

// onRun counts the scheduled refreshes of each demo job.
func (d *demoJobs) onRun(o scheduler.Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o.Err != nil {
		d.errs[o.Dest]++
	} else {
		d.runs[o.Dest]++
	}
}

// report stops the writer, lets the worker catch up once, and shows each
// job's runs and whether its destination holds the source's rows.
func (d *demoJobs) report(ctx context.Context, s *scheduler.Scheduler, stdout io.Writer) error {
	d.stopChanging()
	// A last round, as if every period had passed, so the destinations
	// catch up with the writer's last changes.
	if _, err := d.dest.Exec(ctx, `UPDATE mimeo.jobs SET next_run = NULL, last_run = now() - period WHERE source_name = $1`, demoSourceName); err != nil {
		return err
	}
	if err := s.RunDue(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Demo jobs (refreshes run by this worker, failures, destination = source?):")
	var mismatch []string
	for _, j := range d.jobs {
		q := "SELECT t::text FROM " + j.Dest().Sanitize() + " t ORDER BY 1"
		want, err := rowTexts(ctx, d.src, q)
		if err != nil {
			return err
		}
		got, err := rowTexts(ctx, d.dest, q)
		if err != nil {
			return err
		}
		same := slices.Equal(want, got)
		d.mu.Lock()
		fmt.Fprintf(stdout, "  %-28s %3d refreshes, %d failures, %d rows, equal: %v\n", j.Dest(), d.runs[j.Dest()], d.errs[j.Dest()], len(got), same)
		d.mu.Unlock()
		if !same {
			mismatch = append(mismatch, j.Dest().String())
		}
	}
	if len(mismatch) > 0 {
		return fmt.Errorf("destinations differ from their sources: %v", mismatch)
	}
	return nil
}

func rowTexts(ctx context.Context, db *pgxpool.Pool, q string) ([]string, error) {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// remove destroys the demo's jobs and drops its source tables.
func (d *demoJobs) remove(ctx context.Context, stdout io.Writer) {
	d.stopChanging()
	for _, j := range d.jobs {
		if err := j.Destroy(ctx, nil); err != nil {
			fmt.Fprintln(stdout, "remove demo job:", err)
		}
	}
	_, _ = d.dest.Exec(ctx, `DELETE FROM mimeo.sources WHERE name = $1`, demoSourceName)
	d.dropSource(ctx)
	fmt.Fprintln(stdout, "Removed the demo jobs and tables (the job log stays).")
}

func (d *demoJobs) dropSource(ctx context.Context) {
	for _, t := range []replication.Table{demoPrices, demoStores, demoSales} {
		_, _ = d.src.Exec(ctx, "DROP TABLE IF EXISTS "+t.Sanitize())
	}
}
