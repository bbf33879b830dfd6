// Package nagios is the nagios check of a job log: what the
// check_job_status plugin and "pgmimeo check" print, for a service that
// wants to answer the same check itself. Check connects, runs
// jobmon's CheckJobStatus and returns the plugin exit code and lines: one
// status line in the monitoring-plugins form (the problem jobs worst
// first, then performance data), and with Verbose a line per problem job.
package nagios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

// The plugin exit codes.
const (
	OK       = 0
	Warning  = 1
	Critical = 2
	Unknown  = 3
)

// Service starts every status line.
const Service = "JOBMON"

// DefaultTimeout bounds a check whose Config leaves Timeout 0.
const DefaultTimeout = 10 * time.Second

// Config says what to check.
type Config struct {
	// DSN is the connection string; "": the PG* environment variables.
	DSN string
	// Schema is the job log's schema; "": jobmon.DefaultSchema.
	Schema string
	// Timeout makes the check UNKNOWN when it takes longer; 0: DefaultTimeout.
	Timeout time.Duration
	// Verbose adds a line per problem job, and the connection used.
	Verbose bool
	// AppName is the connection's application_name, unless DSN sets one.
	AppName string
	// Catalog is the schema of the pgmimeo job catalog whose jobs' lag the
	// check judges: a job past its lag_warning is LATE at WARNING, past its
	// lag_critical at CRITICAL, and every job with a known lag puts it in
	// the performance data. "": replication.DefaultCatalogSchema. A
	// database without that catalog has no lag to judge; a role that may
	// not read it is reported with -v.
	Catalog string
}

// Check connects, runs CheckJobStatus and returns the exit code and the
// lines to print: the status line first. Its problems (bad settings, no
// connection, no answer within the timeout, no job log schema) are
// UNKNOWN, as the monitoring-plugins conventions ask.
func Check(ctx context.Context, c Config) (int, []string) {
	connString, schema, timeout, verbose := c.DSN, c.Schema, c.Timeout, c.Verbose
	if schema == "" {
		schema = jobmon.DefaultSchema
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Secrets are kept out by field: a connection string is only shown
	// through dsn.Redact, and the errors shown (pgconn's connect errors,
	// the server's) name the user and database, never the password.
	unknown := func(format string, args ...any) (int, []string) {
		return Unknown, []string{Service + " UNKNOWN - " + OneLine(fmt.Sprintf(format, args...))}
	}
	cfg, err := dsn.ParsePool(connString)
	if err != nil {
		return unknown("bad connection settings: %v", err)
	}
	cfg.MaxConns = 1
	dsn.DefaultAppName(cfg, c.AppName)
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
	lags, note, err := lateJobs(ctx, pool, c.Catalog)
	if err != nil {
		if ctx.Err() != nil {
			return unknown("no answer from the database within %v", timeout)
		}
		return unknown("read the job catalog: %v", err)
	}
	alerts = append(alerts, lags.alerts()...)
	slices.SortStableFunc(alerts, func(a, b jobmon.Alert) int { return b.Code - a.Code })
	code, line := report(alerts, lags)
	lines := []string{line}
	if verbose {
		lines = append(lines, details(alerts)...)
		if note != "" {
			lines = append(lines, note)
		}
		lines = append(lines, fmt.Sprintf("checked schema %q as user %q on %s:%d database %q",
			schema, cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database))
	}
	return code, lines
}

// OneLine keeps text on one line and out of the performance data.
func OneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ", "|", "/").Replace(s)
}

// perfLabels are the counts reported as performance data, in order.
var perfLabels = []string{"critical", "warning", "failed_run", "missing", "running", "blocked", "late"}

// report turns CheckJobStatus's rows (worst first) into the exit code and
// the status line.
func report(alerts []jobmon.Alert, lags jobLags) (int, string) {
	counts := map[string]int{}
	worst := jobmon.LevelOK
	var problems []string
	for _, a := range alerts {
		if a.Code <= jobmon.LevelOK {
			continue
		}
		worst = max(worst, a.Code)
		if a.Code >= jobmon.LevelCritical {
			counts["critical"]++
		} else {
			counts["warning"]++
		}
		counts[strings.ToLower(a.Status)]++
		problems = append(problems, fmt.Sprintf("%s (%s): %s", a.JobName, a.Status, a.Text))
	}
	var perf []string
	for _, label := range perfLabels {
		perf = append(perf, fmt.Sprintf("%s=%d;;;0", label, counts[label]))
	}
	perf = append(perf, lags.perfdata()...)
	code, word := OK, "OK"
	text := "All jobs run successfully"
	switch {
	case worst >= jobmon.LevelCritical:
		code, word = Critical, "CRITICAL"
	case worst == jobmon.LevelWarning:
		code, word = Warning, "WARNING"
	}
	if len(problems) > 0 {
		text = strings.Join(problems, "; ")
	}
	return code, Service + " " + word + " - " + OneLine(text) + " | " + strings.Join(perf, " ")
}

// details is the verbose output: one line per problem job.
func details(alerts []jobmon.Alert) []string {
	var out []string
	for _, a := range alerts {
		if a.Code <= jobmon.LevelOK {
			continue
		}
		out = append(out, OneLine(fmt.Sprintf("%s: %s, level %d: %s", a.JobName, a.Status, a.Code, a.Text)))
	}
	return out
}
