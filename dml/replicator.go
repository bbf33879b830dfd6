package dml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Replicator replays a source table's inserts, updates and deletes on one
// destination table. It implements replication.Replicator.
type Replicator struct {
	source  *pgxpool.Pool
	dest    *pgxpool.Pool
	table   replication.Table
	cfg     Config
	variant keyapply.Variant
	catalog *replication.Catalog
	hooks   hooks
	// throughSlot: a refresh reads the slot after the spool even while a
	// Spool runs (Cutover's, which must apply every change before the
	// lock).
	throughSlot bool
}

// hooks are fault-injection points, set only by this package's tests.
type hooks struct {
	// afterFetch runs when a chunk is staged, before it is applied.
	afterFetch func(ctx context.Context, p phase) error
	// midApply runs after the apply statements, before the commit.
	midApply func(ctx context.Context, p phase) error
	// afterCommit runs after the destination commit of a chunk, before the
	// source queue is cleaned up.
	afterCommit func(ctx context.Context, p phase) error
	// maxImageBytes, when not 0, replaces defaultMaxImageBytes.
	maxImageBytes int64
	// beforeSpoolCommit and afterSpoolCommit run before and after a spool
	// read's destination commit (after: before the slot is confirmed).
	beforeSpoolCommit, afterSpoolCommit func(ctx context.Context, p phase) error
	// spoolRowBytes, when not 0, replaces spoolRowBytes.
	spoolRowBytes int
	// spooling, when not nil, replaces the answer to whether a Spool of
	// the job runs.
	spooling *bool
}

// phase tells a test hook which backends are at work.
type phase struct {
	SourcePID uint32
	DestPID   uint32
}

// runHook runs test hook h, if it is set, at phase p.
func runHook(ctx context.Context, h func(context.Context, phase) error, p phase) error {
	if h == nil {
		return nil
	}
	return h(ctx, p)
}

var _ replication.Replicator = (*Replicator)(nil)

// New returns the DML replicator of source table table (schema-qualified)
// from the source pool into the destination pool. A nil cfg is the zero
// Config. The source role needs SELECT and TRIGGER on the table and a
// schema it owns (Config.QueueSchema). A refresh uses one source and up to
// three destination connections: one holds the refresh lock, two take
// turns applying (one when the destination pool has fewer than three).
func New(source, dest *pgxpool.Pool, table replication.Table, cfg *Config) (*Replicator, error) {
	if source == nil || dest == nil {
		return nil, &replication.OptionError{Field: "source/dest", Problem: "both pools are required"}
	}
	if dest.Config().MaxConns < 2 {
		return nil, &replication.OptionError{Field: "dest", Problem: "the destination pool needs at least 2 connections (the refresh lock holds one)"}
	}
	if err := table.Validate(); err != nil {
		return nil, err
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &Replicator{source: source, dest: dest, table: table, cfg: c, variant: c.variant(),
		catalog: replication.NewCatalog(c.CatalogSchema())}, nil
}

// Dest returns the destination table.
func (r *Replicator) Dest() replication.Table { return r.cfg.DestFor(r.table) }

// Source returns the source table.
func (r *Replicator) Source() replication.Table { return r.table }

// Capture returns the capture the replicator sets jobs up with.
func (r *Replicator) Capture() Capture { return r.cfg.Capture }

// jobName names a logged job, e.g. "Refresh DML: public.orders".
func (r *Replicator) jobName(action string) string { return replication.JobName(action, r.Dest()) }

// job is a loaded catalog job with the shape it describes.
type job struct {
	row   *replication.Job
	cfg   jobConfig
	state jobState
	spec  *keyapply.TableSpec
	queue *queue
}

// open loads the destination's job from the catalog and checks that the
// source still has what it replicates. When the catalog row was read, the
// returned job carries it even with an error, so the failure can be
// recorded.
func (r *Replicator) open(ctx context.Context) (*job, error) {
	dest := r.Dest()
	row, err := r.catalog.Job(ctx, r.dest, dest)
	if err != nil {
		return nil, err
	}
	j := &job{row: row}
	if row.Kind != r.variant.Kind() {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("the job is of kind %q; use that kind's package", row.Kind)}
	}
	if j.cfg, j.state, err = decodeJob(row); err != nil {
		return j, err
	}
	src, err := replication.Describe(ctx, r.source, row.SourceTable)
	if err != nil {
		return j, err
	}
	cols, err := src.Select(j.cfg.Columns)
	if err != nil {
		var ce *replication.ColumnError
		if errors.As(err, &ce) {
			ce.Fix = "the source no longer has this replicated column (see the package documentation on column changes)"
		}
		return j, err
	}
	dst, err := replication.Describe(ctx, r.dest, dest)
	if err != nil {
		return j, err
	}
	dcols, err := dst.Select(j.cfg.Columns)
	if err != nil {
		return j, err
	}
	j.spec = &keyapply.TableSpec{Source: row.SourceTable, Dest: dest, Columns: cols, DestColumns: dcols, Key: j.cfg.Key, Condition: j.cfg.Condition}
	if err := j.spec.CheckCondition(); err != nil {
		return j, err
	}
	if j.spec.Sizes, err = keyapply.ReadSizes(ctx, r.source, r.dest, j.spec); err != nil {
		return j, err
	}
	j.queue = &queue{Schema: j.cfg.QueueSchema, ID: j.cfg.QueueID, Source: row.SourceTable, KeepsDeleted: r.variant.KeepsDeleted()}
	return j, nil
}

// locked runs fn as one run of the job (replication.Run: the refresh lock,
// the job log named name, failure counting, the event); fn fills the
// result.
func (r *Replicator) locked(ctx context.Context, op replication.Op, name string,
	fn func(ctx context.Context, run *replication.JobRun, res *replication.Result) error) (replication.Result, error) {
	return r.lockedOn(ctx, op, name, func(ctx context.Context, _ *pgxpool.Conn, run *replication.JobRun, res *replication.Result) error {
		return fn(ctx, run, res)
	})
}

// lockedOn is locked for a body that also uses the destination session
// that holds the lock.
func (r *Replicator) lockedOn(ctx context.Context, op replication.Op, name string,
	fn func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, res *replication.Result) error) (replication.Result, error) {
	run := replication.Run{Op: op, Kind: r.variant.Kind(), Dest: r.Dest(), Name: name,
		Pool: r.dest, Catalog: r.catalog, Options: &r.cfg.Options}
	return run.Do(ctx, func(ctx context.Context, conn *pgxpool.Conn, log *replication.JobRun) (replication.Result, error) {
		var res replication.Result
		err := fn(ctx, conn, log, &res)
		return res, err
	})
}

// debug logs at debug level when a logger is set.
func (r *Replicator) debug(msg string, args ...any) {
	if r.cfg.Logger != nil {
		r.cfg.Logger.Debug(msg, append(replication.EventAttrs(r.variant.Kind(), r.Dest()), args...)...)
	}
}

// jobConfig is what the catalog keeps of a job's options: the shape fixed
// at setup and the options a worker needs to refresh it.
type jobConfig struct {
	QueueSchema string   `json:"queue_schema"`
	QueueID     int64    `json:"queue_id"`
	Key         []string `json:"key"`
	Columns     []string `json:"columns"`
	// Filter is the caller's column filter (nil: every column at setup);
	// maintenance checks read it to tell a new source column from one
	// left out on purpose.
	Filter      []string `json:"filter,omitempty"`
	Condition   string   `json:"condition,omitempty"`
	BatchLimit  int      `json:"batch_limit,omitempty"`
	SkipIndexes bool     `json:"skip_indexes,omitempty"`
	FetchFirst  bool     `json:"fetch_first,omitempty"`
	// Capture is "logical" for logical capture, empty for the trigger queue.
	Capture Capture `json:"capture,omitempty"`
	// Slot and Publication name the source objects of logical capture.
	Slot        string `json:"slot,omitempty"`
	Publication string `json:"publication,omitempty"`
	// Spool: the scheduler keeps a Spool of the job running.
	Spool bool `json:"spool,omitempty"`

	// startLSN is the slot's consistent point, during setup.
	startLSN string
}

// queueState is where draining the queue stands. It is saved in the
// destination transaction that applies the entries it describes.
type queueState struct {
	// Closed is the queue table (0 or 1) being drained, nil when none is.
	Closed *int `json:"closed,omitempty"`
	// Pos is the position after which Closed's entries are still to apply.
	Pos string `json:"pos,omitempty"`
	// Done: every entry of Closed is applied; it may be truncated.
	Done bool `json:"done,omitempty"`
}

// jobState is a job's progress, kept in the catalog.
type jobState struct {
	Queue queueState `json:"queue"`
	// NeedsPull: the destination was made without data; the next refresh
	// pulls every row.
	NeedsPull bool `json:"needs_pull,omitempty"`
	// Stream is where logical capture stands.
	Stream *streamState `json:"stream,omitempty"`
	// Spool is what the last spool read left (see logical_spool.go); nil
	// when the job has no spool.
	Spool *spoolMark `json:"spool,omitempty"`
}

func decodeJob(j *replication.Job) (jobConfig, jobState, error) {
	var c jobConfig
	var s jobState
	if err := json.Unmarshal(j.Config, &c); err != nil {
		return c, s, fmt.Errorf("job of %s: decode config: %w", j.Dest, err)
	}
	if len(j.State) > 0 {
		if err := json.Unmarshal(j.State, &s); err != nil {
			return c, s, fmt.Errorf("job of %s: decode state: %w", j.Dest, err)
		}
	}
	if len(c.Key) == 0 || len(c.Columns) == 0 {
		return c, s, fmt.Errorf("job of %s: config lacks the key or columns", j.Dest)
	}
	if c.Capture == CaptureLogical {
		if err := checkObjectName("slot", c.Slot); err != nil {
			return c, s, fmt.Errorf("job of %s: %w", j.Dest, err)
		}
		if err := checkObjectName("publication", c.Publication); err != nil {
			return c, s, fmt.Errorf("job of %s: %w", j.Dest, err)
		}
	} else if c.QueueID == 0 || c.QueueSchema == "" {
		return c, s, fmt.Errorf("job of %s: config lacks the queue", j.Dest)
	}
	return c, s, nil
}

func intp(i int) *int { return &i }
