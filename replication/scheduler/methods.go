package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgmimeo/pgmimeo/replication"
)

// ErrNoMethod is wrapped by the error for a catalog job whose kind no
// configured replication.Method opens. Such a job is reported as failed,
// never skipped in silence.
var ErrNoMethod = errors.New("no configured method opens the job's kind")

// Runtime are the run-time settings a Method's Open hands to the
// replicator it rebuilds; everything else about the job comes from the
// catalog.
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
	// MeterProvider and TracerProvider receive the runs' metrics and
	// spans (see replication.Options). Default nil: none.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// forJob applies the job's own run settings: its lock wait, when it has
// one, and no job log for an unlogged job.
func (rt Runtime) forJob(c *claim) Runtime {
	if c.lockWait != nil {
		rt.LockWait = c.lockWait
	}
	if !c.jobLog {
		rt.JobLog = nil
	}
	return rt
}

// options returns the run-time fields as replication.Options.
func (rt Runtime) options() replication.Options {
	return replication.Options{Catalog: rt.Catalog, JobLog: rt.JobLog, Logger: rt.Logger, LockWait: rt.LockWait, BatchLimit: rt.BatchLimit,
		MeterProvider: rt.MeterProvider, TracerProvider: rt.TracerProvider}
}

// validateMethods refuses an empty list of methods, naming the field.
func validateMethods(field string, methods []replication.Method) error {
	if len(methods) == 0 {
		return &replication.OptionError{Field: field,
			Problem: "is empty: list the kinds this process runs, e.g. {snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method}"}
	}
	for i, m := range methods {
		if m.Open == nil || len(m.Kinds) == 0 {
			return &replication.OptionError{Field: fmt.Sprintf("%s[%d]", field, i), Problem: "has no Kinds or no Open"}
		}
	}
	return nil
}

// open rebuilds the replicator of the catalog job of destTable, of kind
// kind, with the method that opens that kind.
func open(ctx context.Context, methods map[replication.Kind]replication.Method, kind replication.Kind, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	m, ok := methods[kind]
	if !ok {
		return nil, &replication.TableError{Table: destTable, Err: fmt.Errorf("%w: %q", ErrNoMethod, kind),
			Fix: "add the kind's Method to the configuration's Methods, or disable the job"}
	}
	return m.Open(ctx, source, dest, destTable, rt.options())
}
