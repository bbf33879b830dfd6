package scheduler_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sourceName is the catalog name of every test's source.
const sourceName = "src"

// bundle is one test's databases, with a job log on the destination.
type bundle struct {
	*pgtest.Bundle
	log *jobmon.Logger
	// timeBoundary is the Boundary of the time-based incremental jobs the
	// fixture sets up (default 0: none).
	timeBoundary time.Duration
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{Bundle: pgtest.Setup(t)}
	log, err := jobmon.Open(context.Background(), b.DestDSN, nil)
	require.NoError(t, err)
	t.Cleanup(log.Close)
	require.NoError(t, log.Migrate(context.Background()))
	b.log = log
	return b
}

// connect is a Config.Connect that knows the test's source.
func (b *bundle) connect(_ context.Context, name string) (*pgxpool.Pool, error) {
	if name != sourceName {
		return nil, fmt.Errorf("unknown source %q", name)
	}
	return b.Source, nil
}

// config returns a scheduler Config for the test's catalog.
func (b *bundle) config(c scheduler.Config) *scheduler.Config {
	c.Connect = b.connect
	c.JobLog = b.log
	if c.Methods == nil {
		c.Methods = allMethods
	}
	return &c
}

// allMethods are every kind of the module, as the operator command wires
// them.
var allMethods = []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method}

// mixedKinds are the kinds the tests set up, in turn.
var mixedKinds = []replication.Kind{
	replication.KindSnapshot, replication.KindTableReload, replication.KindInserterSerial,
	replication.KindUpdaterSerial, replication.KindUpdaterTime, replication.KindDML, replication.KindLogDel,
}

// job makes source table public.<name> (id, ctl, payload) with 50 rows and
// sets up a job of kind into a destination of the same name, with period.
func (b *bundle) job(t *testing.T, kind replication.Kind, name string, period time.Duration) replication.Table {
	t.Helper()
	return b.jobWith(t, kind, name, period, "")
}

// jobWith is job with a row condition (snapshot and table kinds only).
func (b *bundle) jobWith(t *testing.T, kind replication.Kind, name string, period time.Duration, condition string) replication.Table {
	t.Helper()
	ctx := context.Background()
	src := replication.T("public", name)
	ctlType, ctlVal := "bigint", "g"
	if kind == replication.KindUpdaterTime || kind == replication.KindInserterTime {
		ctlType, ctlVal = "timestamptz", "now() - interval '2 hours' + g * interval '1 second'"
	}
	pgtest.MustExec(t, b.Source, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, ctl %s NOT NULL, payload text)`, src.Sanitize(), ctlType))
	pgtest.MustExec(t, b.Source, fmt.Sprintf(`INSERT INTO %s SELECT g, %s, 'row ' || g FROM generate_series(1, 50) g`, src.Sanitize(), ctlVal))
	opts := replication.Options{SourceName: sourceName, Period: period, JobLog: b.log, Condition: condition}
	var rep replication.Replicator
	var err error
	switch kind {
	case replication.KindSnapshot:
		rep, err = snapshot.New(b.Source, b.Dest, src, &snapshot.Config{Options: opts})
	case replication.KindTableReload:
		rep, err = snapshot.NewTable(b.Source, b.Dest, src, &snapshot.TableConfig{Options: opts})
	case replication.KindInserterSerial, replication.KindUpdaterSerial:
		zero := int64(0)
		c := &incremental.Config{Options: opts, Control: "ctl", SerialBoundary: &zero}
		if kind == replication.KindUpdaterSerial {
			rep, err = incremental.NewUpdater(b.Source, b.Dest, src, c)
		} else {
			rep, err = incremental.NewInserter(b.Source, b.Dest, src, c)
		}
	case replication.KindUpdaterTime, replication.KindInserterTime:
		boundary := b.timeBoundary
		c := &incremental.Config{Options: opts, Control: "ctl", Boundary: &boundary, IgnoreDST: true}
		if kind == replication.KindUpdaterTime {
			rep, err = incremental.NewUpdater(b.Source, b.Dest, src, c)
		} else {
			rep, err = incremental.NewInserter(b.Source, b.Dest, src, c)
		}
	case replication.KindDML:
		rep, err = dml.New(b.Source, b.Dest, src, &dml.Config{Options: opts})
	case replication.KindLogDel:
		rep, err = logdel.New(b.Source, b.Dest, src, &logdel.Config{Options: opts})
	default:
		t.Fatalf("no fixture for kind %s", kind)
	}
	require.NoError(t, err)
	require.NoError(t, rep.Setup(ctx))
	return src
}

// change makes the source rows of table (a job of kind) differ from the
// last pull in a way the kind replicates: new rows, and for every kind but
// the inserters changed rows with a higher control value.
func (b *bundle) change(t *testing.T, table replication.Table, kind replication.Kind, round int) {
	t.Helper()
	isTime := kind == replication.KindUpdaterTime || kind == replication.KindInserterTime
	// Serial control values of round r lie above every earlier one.
	ctlNext, newCtl := fmt.Sprintf("%d + id", 10000*(round+1)), fmt.Sprintf("%d + g", 10000*(round+1)+5000)
	if isTime {
		ctlNext, newCtl = "now() - interval '1 minute'", "now() - interval '1 minute'"
	}
	// One session, whose statistics are flushed at once, so that a
	// snapshot's check sees the change.
	ctx := context.Background()
	conn, err := b.Source.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	if kind != replication.KindInserterSerial && kind != replication.KindInserterTime {
		pgtest.MustExec(t, conn, fmt.Sprintf(`UPDATE %s SET payload = payload || ' r%d', ctl = %s WHERE id %% 10 = %d`,
			table.Sanitize(), round, ctlNext, round%10))
	}
	pgtest.MustExec(t, conn, fmt.Sprintf(`INSERT INTO %s SELECT 1000 * %d + g, %s, 'new' FROM generate_series(1, 5) g`,
		table.Sanitize(), round+1, newCtl))
	pgtest.MustExec(t, conn, `SELECT pg_stat_force_next_flush()`)
}

// makeDue makes every job due now, as if its period had passed.
func (b *bundle) makeDue(t *testing.T) {
	t.Helper()
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET next_run = NULL, last_run = now() - period - interval '1 second'`)
}

// same requires the destination to hold the source's rows.
func (b *bundle) same(t *testing.T, table replication.Table) {
	t.Helper()
	q := "SELECT id, ctl, payload FROM " + table.Sanitize()
	require.Equal(t, pgtest.Rows(t, b.Source, q), pgtest.Rows(t, b.Dest, q), "rows of %s", table)
}

// outcomes collects what OnRun reports.
type outcomes struct {
	mu  sync.Mutex
	all []scheduler.Outcome
}

func (o *outcomes) add(x scheduler.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, x)
}

func (o *outcomes) list() []scheduler.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]scheduler.Outcome(nil), o.all...)
}

// perDest counts the outcomes per destination table name.
func (o *outcomes) perDest() map[string]int {
	out := map[string]int{}
	for _, x := range o.list() {
		out[x.Dest.Name]++
	}
	return out
}

// refreshJobs returns, per destination, the ended refresh jobs in the job
// log as "STATUS" strings in start order.
func (b *bundle) refreshJobs(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := b.Dest.Query(context.Background(), `SELECT lower(split_part(job_name, '.', 2)), COALESCE(status, 'RUNNING')
		FROM jobmon.job_log WHERE job_name LIKE 'REFRESH %' ORDER BY job_id`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var dest, status string
		require.NoError(t, rows.Scan(&dest, &status))
		out[dest] = append(out[dest], status)
	}
	require.NoError(t, rows.Err())
	return out
}

// noOverlap requires the ended refresh jobs of each destination in the job
// log not to overlap in time (a job left open by a killed worker has no
// end).
func (b *bundle) noOverlap(t *testing.T) {
	t.Helper()
	rows, err := b.Dest.Query(context.Background(), `SELECT job_name, start_time, end_time
		FROM jobmon.job_log WHERE job_name LIKE 'REFRESH %' AND end_time IS NOT NULL ORDER BY job_name, start_time`)
	require.NoError(t, err)
	defer rows.Close()
	type run struct {
		name       string
		start, end time.Time
	}
	var runs []run
	for rows.Next() {
		var r run
		require.NoError(t, rows.Scan(&r.name, &r.start, &r.end))
		runs = append(runs, r)
	}
	require.NoError(t, rows.Err())
	for i := 1; i < len(runs); i++ {
		if runs[i].name == runs[i-1].name {
			require.False(t, runs[i].start.Before(runs[i-1].end), "%s ran twice at once: %v-%v and %v-%v",
				runs[i].name, runs[i-1].start, runs[i-1].end, runs[i].start, runs[i].end)
		}
	}
}

func names(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
