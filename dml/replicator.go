package dml

import (
	"context"
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
}

// phase tells a test hook which backends are at work.
type phase struct {
	SourcePID uint32
	DestPID   uint32
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
	run := replication.Run{Op: op, Kind: r.variant.Kind(), Dest: r.Dest(), Name: name,
		Pool: r.dest, Catalog: r.catalog, Options: &r.cfg.Options}
	return run.Do(ctx, func(ctx context.Context, _ *pgxpool.Conn, log *replication.JobRun) (replication.Result, error) {
		var res replication.Result
		err := fn(ctx, log, &res)
		return res, err
	})
}

// debug logs at debug level when a logger is set.
func (r *Replicator) debug(msg string, args ...any) {
	if r.cfg.Logger != nil {
		r.cfg.Logger.Debug(msg, append([]any{"table", r.Dest().String()}, args...)...)
	}
}
