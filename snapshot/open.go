package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Open returns the Snapshot of the job that replicates into destination
// view dest, rebuilt from the catalog, for workers that run jobs set up
// elsewhere. The job's source table and options come from the catalog; of
// rt (which may be nil) only the run-time fields are used:
// Options.LockWait, Options.JobLog, Options.Logger, Options.Catalog,
// Options.MeterProvider, Options.TracerProvider and
// LoadOptions. A job of another kind is a *replication.TableError wrapping
// ErrWrongKind; no job, one wrapping ErrNotManaged.
func Open(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, rt *Config) (*Snapshot, error) {
	if source == nil || destPool == nil {
		return nil, &replication.OptionError{Field: "source, dest", Problem: "both pools are required"}
	}
	var run Config
	if rt != nil {
		run = *rt
	}
	job, opts, err := openJob(ctx, destPool, dest, run.Options, replication.KindSnapshot)
	if err != nil {
		return nil, err
	}
	c := Config{Options: opts, LoadOptions: run.LoadOptions, SkipUnchanged: job.opts.SkipUnchanged, PostScripts: job.opts.PostScripts}
	return New(source, destPool, job.SourceTable, &c)
}

// OpenTable returns the Table of the job that replicates into destination
// table dest, rebuilt from the catalog, as Open does for a Snapshot. Of rt
// (which may be nil) only Options.LockWait, Options.JobLog, Options.Logger,
// Options.Catalog and LoadOptions are used.
func OpenTable(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, rt *TableConfig) (*Table, error) {
	if source == nil || destPool == nil {
		return nil, &replication.OptionError{Field: "source, dest", Problem: "both pools are required"}
	}
	var run TableConfig
	if rt != nil {
		run = *rt
	}
	job, opts, err := openJob(ctx, destPool, dest, run.Options, replication.KindTableReload)
	if err != nil {
		return nil, err
	}
	c := TableConfig{Options: opts, LoadOptions: run.LoadOptions, TruncateCascade: job.opts.TruncateCascade,
		Sequences: job.opts.Sequences}
	return NewTable(source, destPool, job.SourceTable, &c)
}

// storedJob is a catalog job with its options decoded.
type storedJob struct {
	*replication.Job
	opts jobOptions
}

// openJob reads the job of dest, checks its kind, and returns the Options
// it was set up with, with the run-time fields of rt.
func openJob(ctx context.Context, db *pgxpool.Pool, dest replication.Table, rt replication.Options, kind replication.Kind) (*storedJob, replication.Options, error) {
	cat := replication.NewCatalog(rt.CatalogSchema())
	job, err := cat.Job(ctx, db, dest)
	if err != nil {
		return nil, replication.Options{}, err
	}
	if job.Kind != kind {
		return nil, replication.Options{}, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("its job is of kind %q, not %q; use that kind's package", job.Kind, kind)}
	}
	sj := &storedJob{Job: job}
	if err := decodeJSON(job.Config, &sj.opts, "config", dest); err != nil {
		return nil, replication.Options{}, err
	}
	opts := replication.Options{
		Columns:     sj.opts.Columns,
		Condition:   sj.opts.Condition,
		Dest:        dest,
		SkipIndexes: sj.opts.SkipIndexes,
		LockWait:    rt.LockWait,
		JobLog:      rt.JobLog,
		Logger:      rt.Logger,
		Catalog:     rt.Catalog,
		// Telemetry is a run-time setting too.
		MeterProvider:  rt.MeterProvider,
		TracerProvider: rt.TracerProvider,
		SourceName:     job.SourceName,
		Period:         job.Period,
	}
	return sj, opts, nil
}
