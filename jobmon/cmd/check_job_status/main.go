// Command check_job_status is a Nagios plugin that reports the state of the
// jobs in a pgmimeo job log (pg_jobmon's tables, kept by package jobmon).
//
//	check_job_status [-d|--dsn CONNSTRING] [-s|--schema jobmon] [-c|--catalog mimeo] [-t|--timeout 10] [-v] [-h] [-V]
//
// The connection comes from --dsn (a postgres:// URL or key=value string) or,
// without it, from the usual PG* environment variables (PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGPASSFILE, PGSERVICE …). The
// role needs SELECT on the schema's tables and EXECUTE on its
// check_job_status() function.
//
// It follows the monitoring-plugins conventions. It prints one status
// line: the service name and the status, then every problem job (the worst
// first), then after a '|' performance data counting the problems per alert
// level and per kind, then each pgmimeo job's lag:
//
//	JOBMON CRITICAL - NIGHTLY LOAD (FAILED_RUN): 3 failed run(s) in a row, the worst CRITICAL | critical=1;;;0 warning=0;;;0 failed_run=1;;;0 missing=0;;;0 running=0;;;0 blocked=0;;;0 late=0;;;0
//
// Besides pg_jobmon's rules (unchanged), the jobs of the pgmimeo catalog in
// the same database (-c, default mimeo; none when it is absent) whose data
// is older than their lag_warning are LATE at WARNING, past their
// lag_critical at CRITICAL; each job's lag is in the performance data as
// 'lag schema.table'=SECONDSs;WARN;CRIT;0.
//
// With -v, one more line per problem job follows, and the connection used
// (without its password). -t/--timeout takes whole seconds (or a Go
// duration such as 500ms); -h/--help prints the usage on standard output
// and -V/--version the version, both exiting 3 as the monitoring-plugins
// do. It exits 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN: bad
// arguments, database unreachable, schema missing, timeout). Passwords
// never appear in its output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/internal/version"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/jobmon/nagios"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const (
	exitUnknown = nagios.Unknown
	service     = nagios.Service
)

// seconds is the --timeout flag: whole seconds, or a Go duration.
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want whole seconds (10) or a duration (500ms)")
	}
	*s = seconds(d)
	return nil
}

const usage = `Usage: check_job_status [-d CONNSTRING] [-s SCHEMA] [-t SECONDS] [-v] [-h] [-V]

Reports the pgmimeo / pg_jobmon jobs that failed, are missing or blocked,
as a Nagios (monitoring-plugins) check.

Options:
  -d, --dsn CONNSTRING   connection string (postgres:// URL or key=value);
                         default: the PG* environment variables
  -s, --schema SCHEMA    schema of the job log tables (default jobmon)
  -c, --catalog SCHEMA   schema of the pgmimeo job catalog whose jobs' lag
                         is judged (default mimeo; none when absent)
  -t, --timeout SECONDS  UNKNOWN when the check takes longer (default 10;
                         a Go duration such as 500ms is accepted too)
  -v, --verbose          one more line per problem job, and the connection
  -h, --help             print this help and exit
  -V, --version          print the version and exit

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Example:
  check_job_status -d 'postgres://nagios@db1/app' -t 5
`

// run is the plugin: it writes the status line to stdout and returns the
// exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check_job_status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var connString, schema, catalog string
	var verbose, help, showVersion bool
	timeout := seconds(10 * time.Second)
	for _, name := range []string{"d", "dsn"} {
		fs.StringVar(&connString, name, "", "")
	}
	for _, name := range []string{"s", "schema"} {
		fs.StringVar(&schema, name, jobmon.DefaultSchema, "")
	}
	for _, name := range []string{"c", "catalog"} {
		fs.StringVar(&catalog, name, "", "")
	}
	for _, name := range []string{"t", "timeout"} {
		fs.Var(&timeout, name, "")
	}
	for _, f := range []struct {
		names []string
		v     *bool
	}{{[]string{"v", "verbose"}, &verbose}, {[]string{"h", "help"}, &help}, {[]string{"V", "version"}, &showVersion}} {
		for _, name := range f.names {
			fs.BoolVar(f.v, name, false, "")
		}
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp) || help:
		fmt.Fprint(stdout, usage)
		return exitUnknown
	case err != nil:
		fmt.Fprintf(stdout, "%s UNKNOWN - %s (see --help)\n", service, nagios.OneLine(err.Error()))
		return exitUnknown
	case showVersion:
		fmt.Fprintf(stdout, "check_job_status (pgmimeo) %s\n", version.String())
		return exitUnknown
	case fs.NArg() > 0:
		fmt.Fprintf(stdout, "%s UNKNOWN - unexpected argument %q (see --help)\n", service, fs.Arg(0))
		return exitUnknown
	case timeout <= 0:
		fmt.Fprintf(stdout, "%s UNKNOWN - --timeout must be positive\n", service)
		return exitUnknown
	}
	code, lines := nagios.Check(context.Background(), nagios.Config{DSN: connString, Schema: schema, Catalog: catalog,
		Timeout: time.Duration(timeout), Verbose: verbose, AppName: "check_job_status"})
	fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	return code
}
