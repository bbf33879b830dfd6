package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

func migrateCmd(a *app) *cobra.Command {
	var print bool
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Make or upgrade the catalog and job log schemas, or print their SQL",
		Long: `migrate makes or upgrades, in the destination database, the job catalog's
schema and the job log's (unless job logging is off). It is safe to run
at any time, by several processes at once; apply and run do it too.

With --print it connects nowhere and prints the SQL instead, for a team
that routes schema changes through its own migration tool: the catalog's
and the job log's migrations (run them on the destination), then the DML
queue registry's (run it on each source of dml or logdel jobs, in each
queue schema; the jobs' queue tables and triggers are made by apply).
Each numbered migration runs in its own transaction and records its version
in its schema's schema_version table, so that pgmimeo later finds it
applied; run each once.`,
		Example: "  pgmimeo migrate -f jobs.yaml\n  pgmimeo migrate --print --catalog mimeo > pgmimeo.sql",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.load(false); err != nil {
				return err
			}
			if print {
				return a.printMigrations()
			}
			dest, err := a.destination(ctx)
			if err != nil {
				return err
			}
			if err := a.cat().Migrate(ctx, dest); err != nil {
				return err
			}
			a.say("catalog schema %q is up to date", a.catalogSchema())
			if _, err := a.jobLogger(ctx); err != nil {
				return err
			}
			if !a.jobLogOff() {
				a.say("job log schema %q is up to date", a.jobLogSchema())
			}
			return nil
		},
	}
	c.Flags().BoolVar(&print, "print", false, "print the SQL instead of running it")
	return c
}

// printMigrations prints the destination's and the sources' schema SQL.
func (a *app) printMigrations() error {
	catalog, err := a.cat().MigrationSQL()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "-- pgmimeo %s: job catalog, schema %q: run on the destination\n%s\n", "migrations", a.catalogSchema(), catalog)
	if !a.jobLogOff() {
		log, err := jobmon.MigrationSQL(a.jobLogSchema())
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "-- job log, schema %q: run on the destination\n%s\n", a.jobLogSchema(), log)
	}
	queues := []string{dml.DefaultQueueSchema}
	if a.jf != nil {
		queues = nil
		for _, j := range a.jf.Jobs {
			if (j.Kind == jobfile.KindDML || j.Kind == jobfile.KindLogDel) && j.Capture != "logical" {
				q := j.QueueSchema
				if q == "" {
					q = dml.DefaultQueueSchema
				}
				if !slices.Contains(queues, q) {
					queues = append(queues, q)
				}
			}
		}
	}
	for _, q := range queues {
		sql, err := dml.QueueMigrationSQL(q)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "-- DML queue registry, schema %q: run on each source of trigger-captured dml and logdel jobs\n%s\n", q, sql)
	}
	return nil
}
