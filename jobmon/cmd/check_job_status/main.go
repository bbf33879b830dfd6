// Command check_job_status is a Nagios plugin that reports the state of the
// jobs in a pgmimeo job log (pg_jobmon's tables, kept by package jobmon).
//
//	check_job_status [--dsn CONNSTRING] [--schema jobmon] [--timeout 10s]
//
// The connection comes from --dsn (a postgres:// URL or key=value string) or,
// without it, from the usual PG* environment variables (PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGPASSFILE, PGSERVICE …). The
// role needs SELECT on the schema's tables and EXECUTE on its
// check_job_status() function.
//
// It prints one line, the status first, then every problem job (the worst
// first), then performance data counting the problems per alert level and
// per kind:
//
//	CRITICAL: NIGHTLY LOAD (FAILED_RUN): 3 failed run(s) in a row, the worst CRITICAL | critical=1;;;0 warning=0;;;0 failed_run=1;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0
//
// and exits, per the Nagios plugin guidelines, 0 (OK), 1 (WARNING), 2
// (CRITICAL) or 3 (UNKNOWN: bad arguments, database unreachable, schema
// missing, timeout). Passwords never appear in its output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/jobmon"
)

// Nagios plugin exit codes.
const (
	exitOK       = 0
	exitWarning  = 1
	exitCritical = 2
	exitUnknown  = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the plugin: it writes the status line to stdout and returns the
// exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check_job_status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", "", "connection string (postgres:// URL or key=value); default: the PG* environment variables")
	schema := fs.String("schema", jobmon.DefaultSchema, "schema of the job log tables")
	timeout := fs.Duration("timeout", 10*time.Second, "report UNKNOWN when the check takes longer than this")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stdout, "UNKNOWN: %s\n", oneLine(err.Error()))
		return exitUnknown
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stdout, "UNKNOWN: unexpected argument %q (see --help)\n", fs.Arg(0))
		return exitUnknown
	}
	if *timeout <= 0 {
		fmt.Fprintln(stdout, "UNKNOWN: --timeout must be positive")
		return exitUnknown
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	code, line := check(ctx, *dsn, *schema, *timeout)
	fmt.Fprintln(stdout, line)
	return code
}

// check connects, runs CheckJobStatus and returns the exit code and line.
func check(ctx context.Context, dsn, schema string, timeout time.Duration) (int, string) {
	secrets := []string{os.Getenv("PGPASSWORD")}
	unknown := func(format string, args ...any) (int, string) {
		return exitUnknown, "UNKNOWN: " + oneLine(scrub(fmt.Sprintf(format, args...), secrets))
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors carry the connection string with the
		// password already redacted.
		return unknown("bad connection settings: %v", err)
	}
	secrets = append(secrets, cfg.ConnConfig.Password)
	cfg.MaxConns = 1
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "check_job_status"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return unknown("cannot open a connection pool: %v", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return unknown("no answer from the database within %v", timeout)
		}
		return unknown("cannot connect to the database: %v", err)
	}
	log, err := jobmon.New(pool, &jobmon.Config{Schema: schema})
	if err != nil {
		return unknown("%v", err)
	}
	alerts, err := log.CheckJobStatus(ctx)
	switch {
	case errors.Is(err, jobmon.ErrSchemaMissing):
		return unknown("job log schema %q not found in database %q (create it with jobmon's Logger.Migrate, or pass --schema)",
			schema, cfg.ConnConfig.Database)
	case ctx.Err() != nil:
		return unknown("no answer from the database within %v", timeout)
	case err != nil:
		return unknown("%v", err)
	}
	return report(alerts)
}

// scrub removes every non-empty secret from msg.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// oneLine keeps text on one line and out of the performance data.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ", "|", "/").Replace(s)
}
