package main

import "github.com/spf13/cobra"

// jobfileHelp is the help topic "pgmimeo help jobfile".
func jobfileHelp() *cobra.Command {
	return &cobra.Command{
		Use:   "jobfile",
		Short: "The job file: destination, sources and jobs, in YAML",
		Long: `The job file declares where jobs replicate into, from where, and the jobs.
Every problem is reported with its line, column and field, all at once.

  destination: postgres://repl@localhost/reporting   # default: the PG* variables
  catalog: mimeo                 # schema of the job catalog (default mimeo)
  job_log:                       # pg_jobmon's tables in the destination
    schema: jobmon               # (default jobmon)
    off: false                   # true: log no job
  sources:
    shop:
      dsn: postgres://repl@db1/shop?sslmode=verify-full
    events:
      dsn: ${EVENTS_DSN}         # an environment variable
  jobs:
    - kind: snapshot             # snapshot, table, inserter, updater, dml, logdel
      source: shop               # default: the only source
      table: public.prices       # the source table (schema.table, SQL quoting)
      dest: reporting.prices     # default: the source's schema and name
      period: 5m                 # how often "pgmimeo run" refreshes it (0: by hand)

Settings of every kind: period, paused, unlogged (keep worker runs out of
the job log), lock_wait (a duration, or "forever"; default: no wait),
lag_warning and lag_critical (how old the destination's data may get before
status, the health handler and check call the job late; default: two and
four periods, on top of a time-based incremental job's boundary),
columns (a list), condition (one boolean expression, or mimeo's
"WHERE …" form), skip_indexes, durable_commit.

Settings of some kinds:
  snapshot             skip_unchanged, post_scripts
  table                truncate_cascade, sequences
  inserter, updater    control (required), control_type (time or serial),
                       boundary, serial_boundary, late_commit, batch_limit
  updater, dml, logdel key (a list of columns)
  dml, logdel          capture (trigger or logical), queue_schema,
                       fetch_first, slot, batch_limit, spool (with
                       capture: logical, "pgmimeo run" keeps a Spool of
                       the job running on one worker: it reads the slot
                       between refreshes, so that a refresh decodes
                       nothing and only applies)

Connection strings carry no password, and a file that holds one is
refused: pgx finds it in PGPASSWORD, a pgpass file (PGPASSFILE) or a
service file (PGSERVICEFILE), as psql does; or write the whole connection
string in an environment variable and name it as ${NAME}. The catalog
records each source's connection string without its password.

period, paused, unlogged, lock_wait, lag thresholds, batch_limit and the kinds' refresh
settings (skip_unchanged, post_scripts, truncate_cascade, sequences,
boundary, late_commit, fetch_first, spool, …) change in place when the file is
applied again; kind, source, table, columns, condition, skip_indexes, key,
control and capture need a rebuild: plan and apply name it, and the way
(destroy the job, apply again).`,
		Example: "  pgmimeo help jobfile",
	}
}
