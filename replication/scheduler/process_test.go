package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// Environment of the worker helper process.
const (
	envHelper = "PGMIMEO_SCHED_HELPER"
	envDest   = "PGMIMEO_SCHED_DEST"
	envWorker = "PGMIMEO_SCHED_WORKER"
)

// TestHelperWorker is a worker process started by TestWorkerProcesses: it
// runs a Scheduler over the destination named by the environment (the
// password comes from PGPASSWORD, for the destination and, through the
// catalog, the source), logging to the job log, until its standard input
// is closed. It is skipped in a normal run.
func TestHelperWorker(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process of TestWorkerProcesses")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	dsn := os.Getenv(envDest)
	pcfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	pcfg.MaxConns = 8 // two refreshes of up to three connections each, and bookkeeping
	dest, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	defer dest.Close()
	log, err := jobmon.Open(ctx, dsn, nil)
	require.NoError(t, err)
	defer log.Close()
	s, err := scheduler.New(dest, &scheduler.Config{
		Methods:  allMethods,
		WorkerID: os.Getenv(envWorker), Concurrency: 2, PollInterval: 100 * time.Millisecond, JobLog: log,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	require.NoError(t, err)
	require.NoError(t, s.Run(ctx))
}

// worker is a running worker process.
type worker struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWorker starts this test binary as worker name on b's destination.
func (b *bundle) startWorker(t *testing.T, name string) *worker {
	t.Helper()
	dsn, err := replication.StripPassword(b.DestDSN)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"=1", envDest+"="+dsn, envWorker+"="+name, "PGPASSWORD="+b.Server.Password)
	w := &worker{name: name, cmd: cmd, out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	w.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker %s output:\n%s", name, w.out.String())
		}
	})
	return w
}

// stop closes the worker's input, which makes it shut down, and requires a
// clean exit.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, w.stdin.Close())
	require.NoError(t, w.cmd.Wait(), "worker %s:\n%s", w.name, w.out.String())
}

// okRuns counts, per destination, the refresh jobs that ended OK.
func (b *bundle) okRuns(t *testing.T) map[string]int {
	out := map[string]int{}
	for dest, statuses := range b.refreshJobs(t) {
		for _, s := range statuses {
			if s == "OK" {
				out[dest]++
			}
		}
	}
	return out
}

// roundDone reports whether every job has had a successful run since
// start (its state committed) and no worker holds a claim.
func (b *bundle) roundDone(t *testing.T, start time.Time) bool {
	var pending int
	require.NoError(t, b.Dest.QueryRow(context.Background(), `SELECT count(*) FROM mimeo.jobs
		WHERE last_ok IS NULL OR last_ok < $1 OR EXISTS (SELECT 1 FROM mimeo.claims)`, start).Scan(&pending))
	return pending == 0
}

// dbNow returns the destination's clock.
func (b *bundle) dbNow(t *testing.T) time.Time {
	var now time.Time
	require.NoError(t, b.Dest.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now))
	return now
}

// The acceptance test of the scheduler: two worker processes over one
// catalog of 20 jobs of mixed kinds run every due job exactly once per
// period (the job log shows it), none twice at once; killing one of them
// (SIGKILL) in the middle of a refresh does not stop the other from
// completing every job.
func TestWorkerProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// With no boundary, a time-based updater warns of every source
	// transaction open when it reads, another worker's pull included, and
	// the round's run is then a WARNING (a failure of this test seen in
	// CI). Its changes are a minute old: a boundary of 10 s takes them.
	b.timeBoundary = 10 * time.Second
	tables := map[replication.Table]replication.Kind{}
	for i := range 20 {
		k := mixedKinds[i%len(mixedKinds)]
		name := fmt.Sprintf("p%02d_%s", i, k)
		cond := ""
		if k == replication.KindSnapshot || k == replication.KindTableReload {
			// A pull that takes a while, so that a worker can be killed in
			// the middle of one.
			cond = ", pg_sleep(0.4) AS pgmimeo_test_sleep"
		}
		tables[b.jobWith(t, k, name, time.Hour, cond)] = k
	}
	for tbl, k := range tables {
		b.change(t, tbl, k, 0)
	}
	require.Empty(t, b.okRuns(t))

	// Round 1: A and B share the due jobs; the first of them seen in the
	// middle of a pull's COPY is killed there, so that run cannot have
	// committed. Which worker claims the slow pulls depends on which one
	// starts first, so either may be the one killed.
	b.makeDue(t)
	round1 := b.dbNow(t)
	workers := map[string]*worker{"A": b.startWorker(t, "A"), "B": b.startWorker(t, "B")}
	var victim, killed string
	require.Eventually(t, func() bool {
		err := b.Source.QueryRow(context.Background(), `SELECT substring(query FROM 'FROM "public"\."([a-z0-9_]+)"'),
				substring(application_name FROM '^pgmimeo scheduler (A|B)$')
			FROM pg_stat_activity WHERE application_name IN ('pgmimeo scheduler A', 'pgmimeo scheduler B')
			AND wait_event = 'PgSleep' AND query LIKE 'COPY %' LIMIT 1`).Scan(&victim, &killed)
		if errors.Is(err, pgx.ErrNoRows) {
			return false
		}
		require.NoError(t, err)
		return true
	}, time.Minute, 2*time.Millisecond, "no worker was seen pulling a table")
	survivor := map[string]string{"A": "B", "B": "A"}[killed]
	t.Logf("killing worker %s in the middle of its pull of %s", killed, victim)
	require.NoError(t, workers[killed].cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, workers[killed].cmd.Wait())
	if !assert.Eventually(t, func() bool { return b.roundDone(t, round1) }, 2*time.Minute, 50*time.Millisecond,
		"worker %s did not complete round 1 alone", survivor) {
		t.Logf("pending jobs: %v", pgtest.Rows(t, b.Dest, `SELECT dest_table, last_ok, claimed_by FROM mimeo.jobs WHERE last_ok IS NULL OR last_ok < $1`, round1))
		t.Logf("claims: %v", pgtest.Rows(t, b.Dest, `SELECT * FROM mimeo.claims`))
		t.Logf("destination sessions: %v", pgtest.Rows(t, b.Dest, `SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity WHERE datname = current_database()`))
		t.Logf("source sessions: %v", pgtest.Rows(t, b.Source, `SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity WHERE datname = current_database()`))
		t.FailNow()
	}
	jobs := b.refreshJobs(t)
	require.Len(t, jobs, len(tables))
	for tbl := range tables {
		if tbl.Name == victim {
			// The killed run never ended; the survivor ran the job again.
			require.Equal(t, []string{"RUNNING", "OK"}, jobs[tbl.Name], tbl.Name)
		} else {
			// One run, or a run the killed worker was in and the
			// survivor's run after it. A job-log entry stays open alone
			// only when the worker was killed after its run had
			// committed, which counts as this period's run: no worker
			// runs it again.
			require.Contains(t, [][]string{{"OK"}, {"RUNNING", "OK"}, {"RUNNING"}}, jobs[tbl.Name], tbl.Name)
		}
		b.same(t, tbl)
	}

	// Round 2, a period later: a new worker in place of the killed one and
	// the survivor run each job once more.
	for tbl, k := range tables {
		b.change(t, tbl, k, 1)
	}
	before := b.okRuns(t)
	replacement := b.startWorker(t, killed+"2")
	b.makeDue(t)
	round2 := b.dbNow(t)
	require.Eventually(t, func() bool { return b.roundDone(t, round2) }, 2*time.Minute, 50*time.Millisecond,
		"workers did not complete round 2")
	replacement.stop(t)
	workers[survivor].stop(t)
	after := b.okRuns(t)
	for tbl := range tables {
		require.Equal(t, before[tbl.Name]+1, after[tbl.Name], tbl.Name)
		b.same(t, tbl)
	}
	// Nothing was skipped or failed; ended runs of one table never overlap.
	require.Equal(t, []string{"(OK)"}, pgtest.Rows(t, b.Dest, `SELECT DISTINCT status FROM jobmon.job_log
		WHERE job_name LIKE 'REFRESH %' AND status IS NOT NULL`))
	b.noOverlap(t)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT claimed_by FROM mimeo.jobs WHERE claimed_by NOT IN ('A', 'B', $1)`, killed+"2"))
}
