package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// spoolers keeps a Spool running for each job of the scheduler's kinds and
// tables that is enabled and asks for one (replication.Method.Spools), at
// most Config.Spools at once. Across workers, the Spool's own lock keeps
// one per job: a worker whose Spool finds one running elsewhere
// (ErrLocked) tries again after Backoff, so the job's Spool moves to
// another worker when the one that ran it stops or dies. A Spool whose job
// is paused, destroyed or no longer asks for one is stopped.
type spoolers struct {
	s       *Scheduler
	sources *sourcePools
	filter  filter
	ctx     context.Context // the Spools' context: Run's
	running map[int64]context.CancelFunc
	retry   map[int64]time.Time
	done    chan spoolEnd
	next    time.Time // when to read the catalog again
	full    bool      // a job waits for a free Spool: warned once
}

// spoolEnd is a Spool that returned.
type spoolEnd struct {
	job *replication.Job
	err error
}

// spoolingMethods reports whether a method of the scheduler's has jobs
// that may ask for a Spool.
func (s *Scheduler) spoolingMethods() bool {
	for _, m := range s.methods {
		if m.Spools != nil {
			return true
		}
	}
	return false
}

func newSpoolers(ctx context.Context, s *Scheduler, sources *sourcePools, f filter) *spoolers {
	return &spoolers{s: s, sources: sources, filter: f, ctx: ctx, running: map[int64]context.CancelFunc{},
		retry: map[int64]time.Time{}, done: make(chan spoolEnd, max(s.cfg.Spools, 0))}
}

// tend collects the Spools that returned and, at most once per
// PollInterval, starts and stops Spools as the catalog asks.
func (p *spoolers) tend(ctx context.Context) {
	p.collect(false)
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(p.s.cfg.PollInterval)
	enabled := true
	jobs, err := p.s.catalog.Jobs(ctx, p.s.dest, &replication.JobFilter{Enabled: &enabled})
	if err != nil {
		if ctx.Err() == nil {
			p.s.logWarn("read the jobs to spool failed; retrying", "error", err, "retry_in", p.s.cfg.PollInterval)
		}
		return
	}
	want := map[int64]*replication.Job{}
	var order []*replication.Job
	for _, j := range jobs {
		m, ok := p.s.methods[j.Kind]
		if ok && m.Spools != nil && p.filter.keeps(j) && m.Spools(j) {
			want[j.ID] = j
			order = append(order, j)
		}
	}
	for id, cancel := range p.running {
		if want[id] == nil {
			cancel() // collected once it has returned
		}
	}
	for _, j := range order {
		if p.running[j.ID] != nil || now.Before(p.retry[j.ID]) {
			continue
		}
		if len(p.running) >= p.s.cfg.Spools {
			if !p.full {
				p.full = true
				p.s.logWarn("more jobs ask for a Spool than this worker runs; the others wait for one to end (raise Config.Spools)",
					append(replication.EventAttrs(j.Kind, j.Dest), "spools", p.s.cfg.Spools)...)
			}
			return
		}
		p.start(j)
	}
}

// start runs a Spool of job j in a goroutine of its own.
func (p *spoolers) start(j *replication.Job) {
	ctx, cancel := context.WithCancel(p.ctx)
	p.running[j.ID] = cancel
	go func() {
		err := p.spool(ctx, j)
		cancel()
		p.done <- spoolEnd{job: j, err: err}
	}()
}

// spool opens job j and runs its Spool until ctx ends. A panic is
// returned as an error.
func (p *spoolers) spool(ctx context.Context, j *replication.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("spool of %s panicked: %v", j.Dest, r)
		}
	}()
	src, err := p.sources.get(ctx, j.SourceName)
	if err != nil {
		return err
	}
	rep, err := open(ctx, p.s.methods, j.Kind, src, p.s.dest, j.Dest, p.s.cfg.runtime())
	if err != nil {
		return err
	}
	sp, ok := rep.(replication.Spooler)
	if !ok {
		return &replication.TableError{Table: j.Dest, Err: fmt.Errorf("the %s method's Open returned a %T, not a replication.Spooler", j.Kind, rep),
			Fix: "the method's Spools must be false for jobs it cannot spool"}
	}
	p.s.logDebug("spool started", append(replication.EventAttrs(j.Kind, j.Dest), "job_id", j.ID)...)
	return sp.Spool(ctx)
}

// collect handles the Spools that have returned; with wait, it waits for
// every running one.
func (p *spoolers) collect(wait bool) {
	for len(p.running) > 0 {
		var e spoolEnd
		if wait {
			e = <-p.done
		} else {
			select {
			case e = <-p.done:
			default:
				return
			}
		}
		delete(p.running, e.job.ID)
		p.full = false
		attrs := append(replication.EventAttrs(e.job.Kind, e.job.Dest), "job_id", e.job.ID)
		switch {
		case e.err == nil || p.ctx.Err() != nil:
			p.s.logDebug("spool stopped", attrs...)
		case errors.Is(e.err, replication.ErrLocked):
			p.retry[e.job.ID] = time.Now().Add(p.s.cfg.Backoff)
			p.s.logDebug("another worker spools the job", append(attrs, "retry_in", p.s.cfg.Backoff)...)
		default:
			p.retry[e.job.ID] = time.Now().Add(p.s.cfg.Backoff)
			p.s.logWarn("spool failed; retrying", append(attrs, "error", e.err, "retry_in", p.s.cfg.Backoff)...)
		}
	}
}

// stop stops every Spool and waits for them.
func (p *spoolers) stop() {
	for _, cancel := range p.running {
		cancel()
	}
	p.collect(true)
}
