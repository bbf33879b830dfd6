package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// ErrNoOpener is wrapped by the error for a catalog job whose kind has no
// Opener in the Registry in use. Such a job is reported as failed, never
// skipped in silence.
var ErrNoOpener = errors.New("no opener is registered for the job's kind")

// Runtime are the run-time settings an Opener hands to the replicator it
// rebuilds; everything else about the job comes from the catalog.
type Runtime struct {
	// Catalog is the schema of the job catalog. Default "": "mimeo".
	Catalog string
	// JobLog receives a job per refresh. Default nil: no job logging.
	JobLog replication.JobLog
	// Logger receives the replicator's progress. Default nil: silent.
	Logger *slog.Logger
	// LockWait is the refresh's wait for the destination's lock (see
	// replication.Options.LockWait). Default nil: no wait.
	LockWait *time.Duration
	// BatchLimit overrides the batch limit of kinds that move rows in
	// batches. Default 0: the job's own. Whole-table kinds ignore it.
	BatchLimit int
}

// options returns the run-time fields as replication.Options.
func (rt Runtime) options() replication.Options {
	return replication.Options{Catalog: rt.Catalog, JobLog: rt.JobLog, Logger: rt.Logger, LockWait: rt.LockWait}
}

// Opener rebuilds, from the catalog, the replicator of the job that
// replicates into destTable, reading through source and writing through
// dest, with the run-time settings rt.
type Opener func(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error)

// Registry maps each replication kind to its Opener. It is the extension
// point for kinds this package does not know: add an entry for a kind to
// run its jobs. A Registry is read, never written, by the Scheduler, so one
// may be shared by several once filled.
type Registry map[replication.Kind]Opener

// Open rebuilds the replicator of the catalog job of destTable with the
// Opener of its kind. A job whose kind has no Opener is a
// *replication.TableError wrapping ErrNoOpener; no job, one wrapping
// replication.ErrNotManaged.
func (r Registry) Open(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	if source == nil || dest == nil {
		return nil, &replication.OptionError{Field: "source, dest", Problem: "both pools are required"}
	}
	job, err := replication.NewCatalog(rt.Catalog).Job(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	return r.open(ctx, job.Kind, source, dest, destTable, rt)
}

func (r Registry) open(ctx context.Context, kind replication.Kind, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	op := r[kind]
	if op == nil {
		return nil, &replication.TableError{Table: destTable, Err: fmt.Errorf("%w: %q", ErrNoOpener, kind),
			Fix: "add an Opener for the kind to the scheduler's Registry, or disable the job"}
	}
	return op(ctx, source, dest, destTable, rt)
}

// Open rebuilds the replicator of the catalog job of destTable with
// DefaultRegistry: see Registry.Open.
func Open(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	return DefaultRegistry().Open(ctx, source, dest, destTable, rt)
}
