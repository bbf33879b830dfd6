package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Defaults of the Config fields.
const (
	DefaultConcurrency  = 2
	DefaultPollInterval = 5 * time.Second
	DefaultBackoff      = 30 * time.Second
	DefaultMaxBackoff   = time.Hour
	// DefaultClaimKeepalive bounds how long the server keeps a claim of a
	// worker whose machine vanished without closing its connection.
	DefaultClaimKeepalive = 30 * time.Second
)

// Config configures a Scheduler. Methods is required; otherwise the zero
// Config runs every scheduled job of those kinds in the catalog "mimeo",
// as many at a time as the destination pool allows (at most two), with the
// sources' passwords from PGPASSWORD or a pgpass file, logging nothing.
type Config struct {
	// Concurrency is how many refreshes this process runs at once.
	// Default 0: as many as the destination pool has connections for
	// (a refresh takes up to three, and the scheduler one more: (MaxConns-1)/3),
	// at most DefaultConcurrency (2). pgxpool's default pool of four
	// connections (on a machine of up to four cores) runs one at a time.
	Concurrency int

	// Kinds restricts the scheduler to jobs of these kinds. Default: every
	// kind.
	Kinds []replication.Kind

	// Tables restricts the scheduler to the jobs of these destination
	// tables. Default: every job.
	Tables []replication.Table

	// Spools is the most Spools this worker keeps running at once, one for
	// each job that asks for one (replication.Method.Spools: dml's and
	// logdel's Config.Logical.Spool) and that no other worker spools; Run
	// runs them (RunDue does not), and stops them at once when its context
	// ends. Each holds a destination session for as long as it runs and a
	// source session while it reads. Default 0: as many as the destination
	// pool has connections beyond what the refreshes need
	// (MaxConns − 3·Concurrency − 1). Negative: none.
	Spools int

	// MaxJobs caps the refreshes one call of Run or RunDue starts; the call
	// returns when they have ended (mimeo's run_refresh.py batch limit).
	// Default 0: no cap.
	MaxJobs int

	// BatchLimit is handed to the kinds that move rows in batches
	// (incremental): the most rows one refresh moves. Default 0: each
	// job's own, from its setup. Whole-table kinds ignore it.
	BatchLimit int

	// CatchUp runs a job again as soon as a slot is free when its refresh
	// stopped at the batch limit with more to move (Result.More). Default
	// false: the job waits for its next period, as in mimeo.
	CatchUp bool

	// Jitter adds a random delay in [0, Jitter) to each job's next run, so
	// that jobs set up at the same moment spread out. Default 0.
	Jitter time.Duration

	// Backoff is how a failing job is slowed down: after n failures in a
	// row it is next due no sooner than Backoff·2^(n-1) (at most MaxBackoff)
	// and no sooner than its period. A claimed job whose refresh lock is
	// held elsewhere (a refresh run by hand, or the session of a worker
	// that has just died) is tried again after Backoff. Default 0:
	// DefaultBackoff (30 s).
	Backoff time.Duration

	// MaxBackoff caps the backoff. Default 0: DefaultMaxBackoff (1 h).
	MaxBackoff time.Duration

	// PollInterval is the longest the scheduler waits before it looks for
	// due jobs again; it wakes earlier when the next job is due sooner or a
	// refresh ends. Default 0: DefaultPollInterval (5 s).
	PollInterval time.Duration

	// ShutdownGrace is how long refreshes in flight may go on after the
	// context of Run ends; then they are cancelled, which rolls their
	// destination transaction back and leaves the job due for any worker.
	// Default 0: cancelled at once.
	ShutdownGrace time.Duration

	// ClaimKeepalive bounds how long the server keeps the claims of a
	// worker whose machine vanished without closing its connection: it is
	// the TCP keepalive time of the claim session (tcp_keepalives_idle,
	// _interval and _count). Default 0: DefaultClaimKeepalive (30 s).
	ClaimKeepalive time.Duration

	// LockWait is handed to every refresh (replication.Options.LockWait).
	// Default nil: a refresh whose lock is taken does not wait.
	LockWait *time.Duration

	// Catalog is the destination schema of the job catalog. Default "":
	// "mimeo".
	Catalog string

	// JobLog receives a job for every refresh (written by the replicator)
	// and for every run that fails before its replicator starts (written
	// by the scheduler, named "Scheduled Refresh: schema.table").
	// jobmon.Logger satisfies it. Default nil: no job logging.
	JobLog replication.JobLog

	// Logger receives the scheduler's and the replicators' progress.
	// Default nil: silent.
	Logger *slog.Logger

	// MeterProvider receives every refresh's metrics (see
	// replication.Options.MeterProvider) and, while Run or RunDue runs,
	// the lag gauge of every catalog job (replication.Catalog.ObserveLag).
	// Default nil: none.
	MeterProvider metric.MeterProvider

	// TracerProvider receives a span per refresh, with a child span per
	// step. Default nil: none.
	TracerProvider trace.TracerProvider

	// Connect returns a pool on the source recorded in the catalog as
	// sourceName, or a nil pool and nil error to leave that source to the
	// default. The scheduler calls it once per source and keeps the pool;
	// it does not close pools it did not open. Default nil, and for the
	// sources it leaves: a pool of the scheduler's own on the source's
	// stored, password-free connection string (replication.Catalog.Source),
	// with the password, if any is needed, from PGPASSWORD, a pgpass file
	// or a service file as pgx reads them.
	Connect func(ctx context.Context, sourceName string) (*pgxpool.Pool, error)

	// Sources are pool configurations of sources by catalog name, for the
	// sources Connect leaves to the scheduler: it opens its pool of such a
	// source from a copy of the configuration, so that its TLS settings,
	// tracer and BeforeConnect/AfterConnect hooks (one that fetches a
	// password from a secret store, say) are kept, rather than from the
	// catalog's stored, password-free connection string; MaxConns is raised
	// to what Concurrency needs. Default nil: every source from the
	// catalog.
	Sources map[string]*pgxpool.Config

	// Methods are the replication kinds this scheduler runs, as values
	// (dml.Method, snapshot.Method, …): a claimed job of a kind none of
	// them opens fails with ErrNoMethod. Required.
	Methods []replication.Method

	// WorkerID names this process in the catalog's claimed_by column.
	// Default "": "host:pid".
	WorkerID string

	// OnRun, when set, is called after every refresh the scheduler ran
	// (or deferred, or abandoned), from the goroutine that ran it (so it
	// must be safe for concurrent use), once the job's next run is
	// recorded and before its claim is let go.
	OnRun func(Outcome)
}

// Outcome is what one scheduled refresh did.
type Outcome struct {
	// JobID, Kind and Dest identify the catalog job.
	JobID int64
	Kind  replication.Kind
	Dest  replication.Table
	// Worker is the WorkerID of the scheduler that ran it.
	Worker string
	// Started is when the refresh started; Result is what it did.
	Started time.Time
	Result  replication.Result
	// Err is the refresh's error, nil on success.
	Err error
	// Deferred is true when the refresh did not run because the
	// destination's refresh lock was held elsewhere.
	Deferred bool
	// Abandoned is true when the refresh was cancelled because the
	// scheduler stopped; the job stays due.
	Abandoned bool
}

func (c *Config) validate() error {
	if c == nil {
		return validateMethods("Config.Methods", nil)
	}
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"Config.Concurrency", c.Concurrency < 0},
		{"Config.MaxJobs", c.MaxJobs < 0},
		{"Config.BatchLimit", c.BatchLimit < 0},
		{"Config.Jitter", c.Jitter < 0},
		{"Config.Backoff", c.Backoff < 0},
		{"Config.MaxBackoff", c.MaxBackoff < 0},
		{"Config.PollInterval", c.PollInterval < 0},
		{"Config.ShutdownGrace", c.ShutdownGrace < 0},
		{"Config.ClaimKeepalive", c.ClaimKeepalive < 0},
	} {
		if f.bad {
			return &replication.OptionError{Field: f.name, Problem: "must be 0 (the default) or positive"}
		}
	}
	if c.ClaimKeepalive > 0 && c.ClaimKeepalive < 3*time.Second {
		return &replication.OptionError{Field: "Config.ClaimKeepalive", Problem: "must be at least 3s (it is split into whole seconds of TCP keepalive)"}
	}
	for i, t := range c.Tables {
		if err := t.Validate(); err != nil {
			return &replication.OptionError{Field: fmt.Sprintf("Config.Tables[%d]", i), Problem: err.Error()}
		}
	}
	if err := validateMethods("Config.Methods", c.Methods); err != nil {
		return err
	}
	for i, k := range c.Kinds {
		if k == "" {
			return &replication.OptionError{Field: fmt.Sprintf("Config.Kinds[%d]", i), Problem: "is empty"}
		}
	}
	return nil
}

// withDefaults returns a copy of cfg (nil allowed) with the defaults set.
func withDefaults(cfg *Config) Config {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ClaimKeepalive == 0 {
		c.ClaimKeepalive = DefaultClaimKeepalive
	}
	if c.WorkerID == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown-host"
		}
		c.WorkerID = host + ":" + strconv.Itoa(os.Getpid())
	}
	return c
}

// runtime returns the settings handed to every Method's Open.
func (c *Config) runtime() Runtime {
	return Runtime{Catalog: c.Catalog, JobLog: c.JobLog, Logger: c.Logger, LockWait: c.LockWait, BatchLimit: c.BatchLimit,
		MeterProvider: c.MeterProvider, TracerProvider: c.TracerProvider}
}
