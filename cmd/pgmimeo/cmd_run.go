package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

func runCmd(a *app) *cobra.Command {
	var rf runFlags
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the scheduler: refresh due jobs until stopped",
		Long: `run is a worker: it refreshes every due job of the catalog (of the job
file's jobs with -f), --concurrency at once, until SIGTERM or SIGINT. Then
it starts no more refreshes, lets those in flight finish for --grace, and
cancels the rest (their transactions roll back and the jobs stay due for
any worker). Any number of workers, on any machines, share one catalog.
With --once it runs the jobs due now, once each, and exits (for cron).
Jobs declared with spool: true (dml and logdel with capture: logical) each
get a Spool on one of the workers, --spools at most on this one, which
reads the job's slot between refreshes; once it returns, another worker
takes it over.
With --health ADDR it serves /live (the destination answers) and /ready
(no job past its lag_critical) as JSON, 503 when not, for probes.
Each refresh is printed as it ends.`,
		Example: "  pgmimeo run -f jobs.yaml\n  pgmimeo run --dest postgres://ops@db2/reporting --concurrency 4\n  pgmimeo run -f jobs.yaml --once",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.load(false); err != nil {
				return err
			}
			if rf.concurrency < 1 {
				return usagef("--concurrency must be at least 1")
			}
			if rf.spools < 0 {
				return usagef("--spools must be 0 or more")
			}
			err := a.runWorker(ctx, &rf)
			if errors.Is(err, context.Canceled) || (err != nil && ctx.Err() != nil) {
				// Stopped by a signal, also while starting (connecting,
				// migrating the catalog in its transaction): a supervisor's
				// stop is not a failure, and nothing is left half-done.
				return nil
			}
			return err
		},
	}
	f := c.Flags()
	f.BoolVar(&rf.once, "once", false, "run the jobs due now once each, then exit")
	f.IntVar(&rf.concurrency, "concurrency", scheduler.DefaultConcurrency, "refreshes at once")
	f.IntVar(&rf.spools, "spools", 4, "the most Spools this worker runs (each holds a destination session)")
	f.DurationVar(&rf.grace, "grace", 30*time.Second, "how long refreshes in flight may finish after SIGTERM")
	f.DurationVar(&rf.poll, "poll", 0, "the longest wait before looking for due jobs again (default 5s)")
	f.BoolVar(&rf.catchUp, "catch-up", false, "run a job again at once when a batch limit stopped it with more to move")
	f.StringVar(&rf.worker, "worker-id", "", "this worker's name in the catalog (default host:pid)")
	f.StringVar(&rf.health, "health", "", "serve /live and /ready (JSON; 503 when a job is past its critical lag) on this address, e.g. :8080")
	return c
}

// runFlags are run's flags.
type runFlags struct {
	once, catchUp bool
	concurrency   int
	spools        int
	grace, poll   time.Duration
	worker        string
	health        string
}

// runWorker is run's work once its flags are checked: the scheduler until
// ctx ends, or the due jobs once each.
func (a *app) runWorker(ctx context.Context, rf *runFlags) error {
	a.destConns = int32(3*rf.concurrency + 2 + rf.spools)
	a.sourceConns = int32(rf.concurrency + 2 + rf.spools)
	dest, err := a.destination(ctx)
	if err != nil {
		return err
	}
	log, err := a.jobLogger(ctx)
	if err != nil {
		return err
	}
	spools := rf.spools
	if spools == 0 {
		spools = -1 // the scheduler's "none"; its 0 is "as many as the pool has room for"
	}
	cfg := &scheduler.Config{
		Methods: methods, Concurrency: rf.concurrency, Spools: spools, Catalog: a.catalogSchema(), Logger: a.logger,
		ShutdownGrace: rf.grace, PollInterval: rf.poll, CatchUp: rf.catchUp, WorkerID: rf.worker,
		Connect: func(ctx context.Context, name string) (*pgxpool.Pool, error) {
			if _, ok := a.jfSource(name); !ok {
				return nil, nil // the catalog's record
			}
			return a.source(ctx, name)
		},
		OnRun: a.printRun,
	}
	if log != nil {
		cfg.JobLog = log
	}
	if a.jf != nil {
		for i := range a.jf.Jobs {
			t, _ := a.jf.Jobs[i].DestTable()
			cfg.Tables = append(cfg.Tables, t)
		}
	}
	if err := a.cat().Migrate(ctx, dest); err != nil {
		return err
	}
	s, err := scheduler.New(dest, cfg)
	if err != nil {
		return err
	}
	if rf.health != "" {
		stop, err := a.serveHealth(ctx, rf.health, dest, cfg.Tables)
		if err != nil {
			return err
		}
		defer stop()
	}
	if rf.once {
		err = s.RunDue(ctx)
	} else {
		a.say("pgmimeo run: worker %s, %d at once; stop with SIGTERM", s.WorkerID(), rf.concurrency)
		err = s.Run(ctx)
	}
	return err
}

// runLine is one refresh run printed by run.
type runLine struct {
	Time     time.Time `json:"time"`
	Job      string    `json:"job"`
	Kind     string    `json:"kind"`
	Rows     int64     `json:"rows"`
	Skipped  bool      `json:"skipped,omitempty"`
	Deferred bool      `json:"deferred,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// printRun prints a refresh as it ends; it is called from the scheduler's
// goroutines.
func (a *app) printRun(o scheduler.Outcome) {
	l := runLine{Time: time.Now(), Job: o.Dest.String(), Kind: fileKind(o.Kind), Rows: o.Result.Rows(),
		Skipped: o.Result.Skipped, Deferred: o.Deferred, Error: errText(o.Err)}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if a.json {
		b, _ := json.Marshal(l)
		fmt.Fprintln(a.stdout, string(b))
		return
	}
	text := o.Result.String()
	switch {
	case o.Err != nil:
		text = "failed: " + o.Err.Error()
	case o.Deferred:
		text = "deferred: its lock is held elsewhere"
	case o.Abandoned:
		text = "abandoned at shutdown; still due"
	}
	fmt.Fprintf(a.stdout, "%s %s (%s): %s\n", l.Time.Format(time.TimeOnly), l.Job, l.Kind, oneLine(text))
}

// serveHealth serves the health handler on addr until stop is called.
func (a *app) serveHealth(ctx context.Context, addr string, dest *pgxpool.Pool, tables []replication.Table) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health: %w", err)
	}
	srv := &http.Server{Handler: check.Health(dest, &check.HealthConfig{Catalog: a.catalogSchema(), Tables: tables}),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.say("pgmimeo run: health on http://%s/ready and /live", ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
