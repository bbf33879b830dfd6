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
	var once, catchUp bool
	var concurrency int
	var grace, poll time.Duration
	var worker, health string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the scheduler: refresh due jobs until stopped",
		Long: `run is a worker: it refreshes every due job of the catalog (of the job
file's jobs with -f), --concurrency at once, until SIGTERM or SIGINT. Then
it starts no more refreshes, lets those in flight finish for --grace, and
cancels the rest (their transactions roll back and the jobs stay due for
any worker). Any number of workers, on any machines, share one catalog.
With --once it runs the jobs due now, once each, and exits (for cron).
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
			if concurrency < 1 {
				return usagef("--concurrency must be at least 1")
			}
			a.destConns = int32(3*concurrency + 2)
			a.sourceConns = int32(concurrency + 2)
			dest, err := a.destination(ctx)
			if err != nil {
				return err
			}
			log, err := a.jobLogger(ctx)
			if err != nil {
				return err
			}
			cfg := &scheduler.Config{
				Methods: methods, Concurrency: concurrency, Catalog: a.catalogSchema(), Logger: a.logger,
				ShutdownGrace: grace, PollInterval: poll, CatchUp: catchUp, WorkerID: worker,
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
			if health != "" {
				stop, err := a.serveHealth(ctx, health, dest, cfg.Tables)
				if err != nil {
					return err
				}
				defer stop()
			}
			if once {
				err = s.RunDue(ctx)
			} else {
				a.say("pgmimeo run: worker %s, %d at once; stop with SIGTERM", s.WorkerID(), concurrency)
				err = s.Run(ctx)
			}
			if errors.Is(err, context.Canceled) || (err != nil && ctx.Err() != nil) {
				return nil // stopped by a signal
			}
			return err
		},
	}
	f := c.Flags()
	f.BoolVar(&once, "once", false, "run the jobs due now once each, then exit")
	f.IntVar(&concurrency, "concurrency", scheduler.DefaultConcurrency, "refreshes at once")
	f.DurationVar(&grace, "grace", 30*time.Second, "how long refreshes in flight may finish after SIGTERM")
	f.DurationVar(&poll, "poll", 0, "the longest wait before looking for due jobs again (default 5s)")
	f.BoolVar(&catchUp, "catch-up", false, "run a job again at once when a batch limit stopped it with more to move")
	f.StringVar(&worker, "worker-id", "", "this worker's name in the catalog (default host:pid)")
	f.StringVar(&health, "health", "", "serve /live and /ready (JSON; 503 when a job is past its critical lag) on this address, e.g. :8080")
	return c
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
