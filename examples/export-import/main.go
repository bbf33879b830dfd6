// Command export-import ships a table's changes from one database to
// another through a directory, with package dml/export: it creates a
// source table, installs the exporter and the importer, sends a full
// batch, changes the source, sends the changes (losing one batch on the
// way to show that the next one covers it), checks that both sides hold
// the same rows, prints what moved and cleans up.
//
// With no flags it starts a throwaway PostgreSQL server of its own (from
// $PGMIMEO_TEST_DSN, Docker, or the PostgreSQL binaries on the machine)
// and stops it at the end:
//
//	go run ./examples/export-import
//
// With -source and -dest it works on real databases instead, creating (and
// at the end removing) public.export_demo_orders on both, and the schemas
// mimeo_export (source) and mimeo_import (destination) if missing:
//
//	go run ./examples/export-import -source postgres://app@prod/shop -dest postgres://me@dr/reporting -dir /tmp/outbox
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// table is the demo table, on both sides.
var table = replication.T("public", "export_demo_orders")

// target names the destination in the source's tracking tables.
var target = export.Target{Host: "dr.example.com", Database: "reporting"}

func main() {
	sourceDSN := flag.String("source", "", "source database DSN (default: a throwaway local server)")
	destDSN := flag.String("dest", "", "destination database DSN (default: a throwaway local server)")
	dir := flag.String("dir", "", "directory the batches travel through (default: a temporary one)")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, *sourceDSN, *destDSN, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "export-import:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sourceDSN, destDSN, dir string) error {
	if (sourceDSN == "") != (destDSN == "") {
		return errors.New("give both -source and -dest, or neither")
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pgmimeo-export-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
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
		dsns, err := srv.CreateDatabases(ctx, "export_source", "export_dest")
		if err != nil {
			return err
		}
		sourceDSN, destDSN = dsns[0], dsns[1]
	}
	source, err := pgxpool.New(ctx, sourceDSN)
	if err != nil {
		return fmt.Errorf("connect to the source: %s", replication.RedactDSN(err.Error()))
	}
	defer source.Close()
	dest, err := pgxpool.New(ctx, destDSN)
	if err != nil {
		return fmt.Errorf("connect to the destination: %s", replication.RedactDSN(err.Error()))
	}
	defer dest.Close()
	return demo(ctx, source, dest, dir)
}

func demo(ctx context.Context, source, dest *pgxpool.Pool, dir string) (err error) {
	const ddl = `CREATE TABLE public.export_demo_orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(10,2), status text)`
	if _, err := source.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create the source table: %w", err)
	}
	defer drop(ctx, source, &err)
	// The destination has a column of its own, which the import leaves alone.
	if _, err := dest.Exec(ctx, ddl+`; ALTER TABLE public.export_demo_orders ADD COLUMN received_at timestamptz DEFAULT now()`); err != nil {
		return fmt.Errorf("create the destination table: %w", err)
	}
	defer drop(ctx, dest, &err)
	if _, err := source.Exec(ctx, `INSERT INTO public.export_demo_orders (customer, total, status)
		SELECT 'customer ' || (g % 97), (g * 7 % 1000) / 10.0, 'open' FROM generate_series(1, 10000) g`); err != nil {
		return err
	}

	ex, err := export.NewExporter(source, table, nil)
	if err != nil {
		return err
	}
	if err := ex.Install(ctx); err != nil {
		return err
	}
	defer func() {
		if uerr := ex.Uninstall(context.WithoutCancel(ctx)); err == nil {
			err = uerr
		}
	}()
	im, err := export.NewImporter(dest, &export.ImporterConfig{Target: target})
	if err != nil {
		return err
	}
	if err := im.Install(ctx); err != nil {
		return err
	}
	fmt.Printf("Exporter on %s installed; batches go through %s.\n", table, dir)

	ship := func(what string) error {
		res, err := ex.Export(ctx, target, dir)
		if err != nil {
			return err
		}
		if res.Skipped {
			fmt.Printf("%s: nothing to send.\n", what)
			return nil
		}
		m := res.Manifest
		r, err := im.Import(ctx, res.Dir)
		if err != nil {
			return err
		}
		if _, err := ex.Acknowledge(ctx, r.AckPath); err != nil {
			return err
		}
		kind := "changes since batch " + fmt.Sprint(m.Since)
		if m.Full {
			kind = "full"
		}
		fmt.Printf("%s: batch %d (%s), %d keys, %d rows, %d bytes → inserted %d, updated %d, deleted %d; acknowledged.\n",
			what, m.Batch, kind, m.IDs.Rows, m.Rows.Rows, r.Bytes, r.Counts.Inserted, r.Counts.Updated, r.Counts.Deleted)
		return nil
	}
	if err := ship("First export"); err != nil {
		return err
	}
	if _, err := source.Exec(ctx, `UPDATE public.export_demo_orders SET status = 'paid' WHERE id % 10 = 0;
		DELETE FROM public.export_demo_orders WHERE id % 100 = 1`); err != nil {
		return err
	}
	lost, err := ex.Export(ctx, target, dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(lost.Dir); err != nil {
		return err
	}
	fmt.Printf("Batch %d (%d keys) was lost on the way.\n", lost.Manifest.Batch, lost.Manifest.IDs.Rows)
	if _, err := source.Exec(ctx, `INSERT INTO public.export_demo_orders (customer, total, status) VALUES ('new customer', 12.5, 'open');
		UPDATE public.export_demo_orders SET total = total + 1 WHERE id BETWEEN 500 AND 549`); err != nil {
		return err
	}
	if err := ship("Next export"); err != nil {
		return err
	}
	if err := ship("Export with no change"); err != nil {
		return err
	}
	const rows = `SELECT id, customer, total, status FROM public.export_demo_orders`
	src, err := allRows(ctx, source, rows)
	if err != nil {
		return err
	}
	dst, err := allRows(ctx, dest, rows)
	if err != nil {
		return err
	}
	if !slices.Equal(src, dst) {
		return fmt.Errorf("the two sides differ: %d rows on the source, %d on the destination", len(src), len(dst))
	}
	fmt.Printf("Both sides hold the same %d rows.\n", len(src))
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	fmt.Printf("%d batch directories and acknowledgements in %s.\n", len(left), dir)
	return nil
}

// allRows returns every row of query as text, sorted.
func allRows(ctx context.Context, db *pgxpool.Pool, query string) ([]string, error) {
	rs, err := db.Query(ctx, `SELECT q::text FROM (`+query+`) q ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rs, pgx.RowTo[string])
}

// drop removes the demo table.
func drop(ctx context.Context, db *pgxpool.Pool, err *error) {
	if _, derr := db.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+table.Sanitize()); *err == nil {
		*err = derr
	}
}
