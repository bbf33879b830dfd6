package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Scheduler runs the scheduled jobs of a destination's catalog. Any number
// of Schedulers, in any number of processes on any number of machines, may
// run over one catalog: each claims due jobs for itself (see the package
// documentation), so each due job runs once per period and never twice at
// once.
type Scheduler struct {
	dest    *pgxpool.Pool
	cfg     Config
	catalog *replication.Catalog
	methods map[replication.Kind]replication.Method
	running atomic.Bool
}

// New returns a Scheduler of the jobs in the catalog of the destination
// database behind dest; cfg.Methods says which kinds it runs. New does not
// touch the database.
//
// The pool is used for the refreshes (each holds its lock on one
// connection, and a dml or logdel refresh applies on two more), for the
// job bookkeeping and, when cfg.Connect is nil, for reading the sources'
// connection strings: it needs at least 3·Concurrency+1 connections, or
// concurrent refreshes could wait on each other for connections for ever;
// New refuses a smaller pool, and sizes a Concurrency left 0 from it.
// Each Spool (Config.Spools) takes one connection more, for as long as it
// runs. The claims are held on one more session of the scheduler's own,
// opened with the pool's settings.
func New(dest *pgxpool.Pool, cfg *Config) (*Scheduler, error) {
	if dest == nil {
		return nil, &replication.OptionError{Field: "dest", Problem: "is nil: pass a pool on the destination database"}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := withDefaults(cfg)
	if c.Concurrency == 0 {
		c.Concurrency = max(1, min(DefaultConcurrency, int(dest.Config().MaxConns-1)/3))
	}
	if need := int32(3*c.Concurrency + 1); dest.Config().MaxConns < need {
		return nil, &replication.OptionError{Field: "dest",
			Problem: fmt.Sprintf("the pool has %d connections; %d concurrent refreshes need at least %d (set pool_max_conns)",
				dest.Config().MaxConns, c.Concurrency, need)}
	}
	room := int(dest.Config().MaxConns) - 3*c.Concurrency - 1
	switch {
	case c.Spools == 0:
		c.Spools = room
	case c.Spools > room:
		return nil, &replication.OptionError{Field: "Config.Spools",
			Problem: fmt.Sprintf("the pool has %d connections; %d concurrent refreshes and %d Spools need %d (set pool_max_conns, or fewer Spools)",
				dest.Config().MaxConns, c.Concurrency, c.Spools, 3*c.Concurrency+1+c.Spools)}
	}
	return &Scheduler{dest: dest, cfg: c, catalog: replication.NewCatalog(c.Catalog), methods: replication.Methods(c.Methods...)}, nil
}

// WorkerID returns the name under which this scheduler claims jobs.
func (s *Scheduler) WorkerID() string { return s.cfg.WorkerID }

// errRunning is returned by a second concurrent Run or RunDue.
var errRunning = errors.New("scheduler: Run or RunDue is already running on this Scheduler")

// Run runs due jobs until ctx ends (or Config.MaxJobs refreshes have
// run), up to Config.Concurrency at once. It brings the catalog schema up
// to date first, and fails only when that fails; later database errors are
// logged and retried after PollInterval, so a worker outlives a restart of
// its database. When ctx ends it claims nothing more, lets refreshes in
// flight go on for Config.ShutdownGrace and then cancels them (which rolls
// them back and leaves their jobs due), waits for them, lets its claims go
// and returns nil.
func (s *Scheduler) Run(ctx context.Context) error { return s.loop(ctx, false) }

// RunDue runs the jobs due when it is called, once each (up to
// Config.MaxJobs), Config.Concurrency at once, and returns when they have
// ended: the mode of mimeo's run_refresh.py, for a cron job. Jobs that
// other workers hold are left to them. Database errors end it.
func (s *Scheduler) RunDue(ctx context.Context) error { return s.loop(ctx, true) }

func (s *Scheduler) loop(ctx context.Context, once bool) error {
	if !s.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer s.running.Store(false)
	if err := s.catalog.Migrate(ctx, s.dest); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if s.cfg.MeterProvider != nil {
		reg, err := s.catalog.ObserveLag(s.cfg.MeterProvider, s.dest)
		if err != nil {
			return fmt.Errorf("scheduler: register the lag gauge: %w", err)
		}
		defer func() { _ = reg.Unregister() }()
	}
	l := &loopState{
		s:       s,
		claims:  newClaimSession(s.dest, &s.cfg),
		sources: newSourcePools(s.dest, &s.cfg),
		filter:  newFilter(&s.cfg),
		running: map[int64]bool{},
		done:    make(chan *claim, s.cfg.Concurrency),
	}
	if once {
		var now time.Time
		if err := s.dest.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		l.filter.asOf = &now
	}
	// Refreshes run on a context that outlives ctx by the grace period.
	var cancelRuns context.CancelFunc
	l.runCtx, cancelRuns = context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	stop := context.AfterFunc(ctx, func() {
		if s.cfg.ShutdownGrace <= 0 {
			cancelRuns()
			return
		}
		time.AfterFunc(s.cfg.ShutdownGrace, cancelRuns)
	})
	defer stop()
	defer l.sources.close()
	defer l.claims.close(context.WithoutCancel(ctx))
	// Unregistered before the sources close, which its reads use.
	if s.cfg.MeterProvider != nil {
		reg, err := l.observeDetails(s.cfg.MeterProvider)
		if err != nil {
			return fmt.Errorf("scheduler: register the detail gauges: %w", err)
		}
		defer func() { _ = reg.Unregister() }()
	}

	if !once && s.cfg.Spools > 0 && s.spoolingMethods() {
		l.spools = newSpoolers(ctx, s, l.sources, l.filter)
	}
	err := l.run(ctx, once)
	if l.spools != nil {
		l.spools.stop()
	}
	for len(l.running) > 0 {
		delete(l.running, (<-l.done).id)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// loopState is one Run's working set.
type loopState struct {
	s       *Scheduler
	claims  *claimSession
	sources *sourcePools
	filter  filter
	runCtx  context.Context
	// running are the jobs in flight; done receives each as it ends.
	running map[int64]bool
	done    chan *claim
	started int
	// spools keeps the jobs' Spools running (Run only).
	spools *spoolers
}

func (l *loopState) ids() []int64 {
	out := make([]int64, 0, len(l.running))
	for id := range l.running {
		out = append(out, id)
	}
	return out
}

// run claims and starts jobs until ctx ends, the cap is reached, or (once)
// nothing due is left. It returns with jobs possibly still in flight.
func (l *loopState) run(ctx context.Context, once bool) error {
	c := &l.s.cfg
	for ctx.Err() == nil {
		if l.spools != nil {
			l.spools.tend(ctx)
		}
		free := c.Concurrency - len(l.running)
		if c.MaxJobs > 0 {
			free = min(free, c.MaxJobs-l.started)
		}
		claimed := 0
		var wait time.Duration
		if free > 0 {
			jobs, err := l.claims.claim(ctx, free, l.filter, l.ids())
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case err != nil && once:
				return err
			case err != nil:
				l.s.logWarn("claim jobs failed; retrying", "error", err, "retry_in", c.PollInterval)
				wait = c.PollInterval
			}
			for _, j := range jobs {
				l.running[j.id] = true
				l.started++
				go func() { l.done <- l.s.runJob(l.runCtx, l.claims, l.sources, j) }()
			}
			claimed = len(jobs)
		}
		capped := c.MaxJobs > 0 && l.started >= c.MaxJobs
		if (capped || once && claimed < free) && len(l.running) == 0 {
			return nil
		}
		if wait == 0 && free > 0 && claimed == free && !capped {
			continue // slots were filled: there may be more due
		}
		if wait == 0 {
			wait = c.PollInterval
			if free > claimed && !capped && !once {
				d, ok, err := nextDue(ctx, l.s.dest, l.claims.jobs, l.filter, l.ids())
				if err != nil && ctx.Err() == nil {
					l.s.logWarn("read next due job failed", "error", err)
				}
				if err == nil && ok {
					wait = min(wait, max(d, 20*time.Millisecond))
				}
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case j := <-l.done:
			delete(l.running, j.id)
		case <-timer.C:
		}
		timer.Stop()
		// Collect every other job that ended meanwhile.
		for drained := false; !drained; {
			select {
			case j := <-l.done:
				delete(l.running, j.id)
			default:
				drained = true
			}
		}
	}
	return nil
}

func (s *Scheduler) logWarn(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Warn(msg, append([]any{"worker", s.cfg.WorkerID}, args...)...)
	}
}

func (s *Scheduler) logInfo(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Info(msg, append([]any{"worker", s.cfg.WorkerID}, args...)...)
	}
}

func (s *Scheduler) logDebug(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Debug(msg, append([]any{"worker", s.cfg.WorkerID}, args...)...)
	}
}
