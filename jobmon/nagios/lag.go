package nagios

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
)

// StatusLate is the status of a job whose data is older than its lag
// threshold.
const StatusLate = "LATE"

// jobLags are the catalog's jobs with their lag.
type jobLags []*replication.Job

// lateJobs reads the jobs of the catalog in schema; none when the
// database has no such catalog. A role that may not read it gets a note
// for the verbose output instead of an error.
func lateJobs(ctx context.Context, pool *pgxpool.Pool, schema string) (jobLags, string, error) {
	cat := replication.NewCatalog(schema)
	jobs := replication.T(cat.Schema(), "jobs").String()
	// Looked up in pg_class by name rather than with to_regclass, which
	// fails in a schema the role may not use.
	var exists, readable bool
	err := pool.QueryRow(ctx, `SELECT c.oid IS NOT NULL,
		COALESCE(pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT'), false)
		FROM (SELECT 1) one
		LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1
		LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = 'jobs'`, cat.Schema()).Scan(&exists, &readable)
	switch {
	case err != nil:
		return nil, "", err
	case !exists:
		return nil, "", nil
	case !readable:
		return nil, fmt.Sprintf("lag not checked: no SELECT on %s (GRANT USAGE ON SCHEMA %s and SELECT ON %s to this role)",
			jobs, replication.QuoteIdent(cat.Schema()), jobs), nil
	}
	all, err := cat.Jobs(ctx, pool, nil)
	if sqltext.SQLState(err) == pgerrcode.UndefinedColumn {
		// A catalog older than the lag columns (pgmimeo's migrations 004 and 005).
		return nil, fmt.Sprintf("lag not checked: the catalog %s predates the lag columns (run pgmimeo migrate, or any worker of this version)", jobs), nil
	}
	return all, "", err
}

// alerts are the LATE jobs, as CheckJobStatus rows.
func (l jobLags) alerts() []jobmon.Alert {
	var out []jobmon.Alert
	for _, j := range l {
		lag := j.Lag()
		code, limit := jobmon.LevelOK, ""
		switch lag.Level {
		case replication.LagCritical:
			code, limit = jobmon.LevelCritical, "critical "+lag.Critical.String()
		case replication.LagWarning:
			code, limit = jobmon.LevelWarning, "warning "+lag.Warning.String()
		default:
			continue
		}
		out = append(out, jobmon.Alert{Code: code, Status: StatusLate, JobName: j.Dest.Schema + "." + j.Dest.Name,
			Text: fmt.Sprintf("data up to %s old, past its %s", lag.Age.Round(time.Second), limit)})
	}
	return out
}

// perfdata is each job's lag in seconds, with its thresholds.
func (l jobLags) perfdata() []string {
	var out []string
	for _, j := range l {
		lag := j.Lag()
		if lag.Age == nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%.1fs;%s;%s;0", perfLabel("lag "+j.Dest.Schema+"."+j.Dest.Name),
			lag.Age.Seconds(), threshold(lag.Warning), threshold(lag.Critical)))
	}
	return out
}

// perfLabel quotes a label as the plugin guidelines allow: in single
// quotes, without quotes or equals signs of its own.
func perfLabel(s string) string {
	return "'" + strings.NewReplacer("'", "", "=", "", "|", "").Replace(OneLine(s)) + "'"
}

func threshold(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
