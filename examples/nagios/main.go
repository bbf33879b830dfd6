// Command nagios sets up Nagios monitoring of pgmimeo's jobs on a
// destination database: the job log (pg_jobmon's tables, package jobmon),
// a read-only role for the check, check thresholds for a job, and the
// Nagios command and service definitions of the check_job_status plugin
// (jobmon/cmd/check_job_status). Then it runs the plugin as Nagios would:
// OK while the job succeeds, CRITICAL once it has failed three times in a
// row.
//
// With no flags it works on a throwaway PostgreSQL server:
//
//	go run ./examples/nagios
//
// On real databases it creates (and at the end removes) the table
// public.nagios_orders on the source, a snapshot of it on the destination,
// and the login role -role (default pgmimeo_nagios); the job log stays:
//
//	go run ./examples/nagios -source postgres://app@prod/shop -dest postgres://me@db/reporting -out /etc/nagios/conf.d
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/pgmimeotest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// table is the demo job's source table and snapshot.
var table = replication.T("public", "nagios_orders")

// options are the example's flags.
type options struct {
	source, dest string
	role         string
	out          string
	plugin       string
	schema       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nagios:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("nagios", flag.ContinueOnError)
	fs.StringVar(&o.source, "source", "", "source database DSN (default: a throwaway local server)")
	fs.StringVar(&o.dest, "dest", "", "destination database DSN, where the job log is (default: a throwaway local server)")
	fs.StringVar(&o.role, "role", "pgmimeo_nagios", "login role the check runs as (created, and removed at the end)")
	fs.StringVar(&o.out, "out", "", "directory to write pgmimeo-commands.cfg and pgmimeo-services.cfg to (default: print them)")
	fs.StringVar(&o.plugin, "plugin", "", "the check_job_status binary (default: go build it)")
	fs.StringVar(&o.schema, "schema", jobmon.DefaultSchema, "job log schema")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (o.source == "") != (o.dest == "") {
		return errors.New("give both -source and -dest, or neither")
	}
	if o.source == "" {
		fmt.Fprintln(stdout, "Starting a throwaway PostgreSQL server…")
		srv, err := pgmimeotest.Start(ctx)
		if err != nil {
			return fmt.Errorf("start a PostgreSQL server: %w (or give -source and -dest)", err)
		}
		defer func() {
			_ = srv.Stop()
			fmt.Fprintln(stdout, "Stopped the throwaway server.")
		}()
		dsns, err := srv.CreateDatabases(ctx, "shop", "reporting")
		if err != nil {
			return err
		}
		o.source, o.dest = dsns[0], dsns[1]
	}
	plugin := o.plugin
	if plugin == "" {
		dir, err := os.MkdirTemp("", "pgmimeo-nagios")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(stdout, "Building the check_job_status plugin…")
		if plugin, err = buildPlugin(ctx, dir); err != nil {
			return err
		}
	}

	source, err := pgxpool.New(ctx, o.source)
	if err != nil {
		return fmt.Errorf("source %s: %w", replication.RedactDSN(o.source), err)
	}
	defer source.Close()
	dest, err := pgxpool.New(ctx, o.dest)
	if err != nil {
		return fmt.Errorf("destination %s: %w", replication.RedactDSN(o.dest), err)
	}
	defer dest.Close()

	// 1. The job log, on the destination, written through its own pool.
	log, err := jobmon.Open(ctx, o.dest, &jobmon.Config{Schema: o.schema})
	if err != nil {
		return err
	}
	defer log.Close()
	if err := log.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Job log ready in schema %s of the destination.\n", replication.QuoteIdent(o.schema))

	// 2. A job that logs there: a snapshot of a small table.
	snap, err := setUpJob(ctx, source, dest, log, stdout)
	if snap != nil {
		defer removeJob(context.WithoutCancel(ctx), source, snap, log, stdout)
	}
	if err != nil {
		return err
	}
	jobName := replication.JobName("Refresh Snap", table)

	// 3. Thresholds: a warning when the job has not run OK for an hour, an
	// alert after three hours; three failed runs in a row alert at once.
	if err := log.SetCheckConfig(ctx, jobmon.CheckConfig{JobName: jobName, Warn: 3600e9, Error: 3 * 3600e9,
		Active: true, Sensitivity: 2}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Check thresholds for %q: WARNING after 1h without a successful run, CRITICAL after 3h or 3 failures in a row.\n", jobName)

	// 4. The role the plugin connects as: it may read the log, nothing else.
	password := randomPassword()
	if err := createRole(ctx, dest, o.role, password, o.schema, stdout); err != nil {
		return err
	}
	defer dropRole(context.WithoutCancel(ctx), dest, o.role, stdout)

	// 5. What Nagios needs.
	checkDSN, err := roleDSN(o.dest, o.role)
	if err != nil {
		return err
	}
	if err := writeDefinitions(o.out, checkDSN, o.schema, dest, stdout); err != nil {
		return err
	}

	// 6. The plugin, run as Nagios runs it (the password comes from the
	// nagios user's ~/.pgpass; here from PGPASSWORD).
	fmt.Fprintln(stdout, "\nThe plugin while the job succeeds:")
	if err := runPlugin(ctx, plugin, checkDSN, password, o.schema, 0, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nThe source table disappears, and the job fails three times:")
	if _, err := source.Exec(ctx, "DROP TABLE "+table.Sanitize()); err != nil {
		return err
	}
	for range 3 {
		_, err := snap.Refresh(ctx)
		if err == nil {
			return errors.New("a refresh of a dropped source succeeded")
		}
		fmt.Fprintf(stdout, "  refresh failed: %v\n", err)
	}
	fmt.Fprintln(stdout, "\nThe plugin now:")
	return runPlugin(ctx, plugin, checkDSN, password, o.schema, 2, stdout)
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setUpJob creates the source table and a snapshot of it that logs to
// log, and refreshes it once.
func setUpJob(ctx context.Context, source, dest *pgxpool.Pool, log *jobmon.Logger, stdout io.Writer) (*snapshot.Snapshot, error) {
	if _, err := source.Exec(ctx, `CREATE TABLE `+table.Sanitize()+` (id int PRIMARY KEY, total numeric(10,2));
		INSERT INTO `+table.Sanitize()+` SELECT g, g * 2.5 FROM generate_series(1, 1000) g`); err != nil {
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	snap, err := snapshot.New(source, dest, table, &snapshot.Config{Options: replication.Options{JobLog: log, SourceName: "nagios-demo"}})
	if err != nil {
		_, _ = source.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table.Sanitize())
		return nil, err
	}
	if err := snap.Setup(ctx); err != nil {
		_, _ = source.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table.Sanitize())
		return nil, err
	}
	if _, err := snap.Refresh(ctx); err != nil {
		return snap, err
	}
	fmt.Fprintf(stdout, "Snapshot of %s set up and refreshed; both runs are in the job log.\n", table)
	return snap, nil
}

// removeJob destroys the demo job, its check config and its source table.
func removeJob(ctx context.Context, source *pgxpool.Pool, snap *snapshot.Snapshot, log *jobmon.Logger, stdout io.Writer) {
	if err := snap.Destroy(ctx, nil); err != nil {
		fmt.Fprintln(stdout, "cleanup: destroy snapshot:", err)
	}
	_ = log.DeleteCheckConfig(ctx, replication.JobName("Refresh Snap", table))
	_, _ = source.Exec(ctx, "DROP TABLE IF EXISTS "+table.Sanitize())
	fmt.Fprintln(stdout, "Removed the demo job and its source table (the job log stays).")
}
