package replication

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Method is a replication kind as a value: what the code that fans the
// kinds in (the scheduler, the operator command, a service's own worker)
// needs of a kind without importing it. Each kind's package exports its
// own: dml.Method, logdel.Method, snapshot.Method, snapshot.TableMethod and
// incremental.Method. Pass the ones a worker runs in its configuration.
type Method struct {
	// Name names the method in messages ("dml").
	Name string
	// Kinds are the catalog kinds whose jobs Open rebuilds.
	Kinds []Kind
	// Open rebuilds, from the catalog, the replicator of the job that
	// replicates into destination table dest. What the job replicates
	// comes from the catalog; of o only the run-time settings are used:
	// Catalog, JobLog, Logger, MeterProvider, TracerProvider, LockWait and
	// BatchLimit (0: the job's own; whole-table kinds ignore it). A job of a
	// kind not in Kinds is a *TableError wrapping ErrWrongKind.
	Open func(ctx context.Context, source, destPool *pgxpool.Pool, dest Table, o Options) (Replicator, error)
	// Prerequisites are what each of its kinds (and captures) needs of the
	// source: the same lists its Setup checks. check.Preflight reports
	// them for the methods it is given.
	Prerequisites []Prerequisite
	// Spools, when set, reports whether the job of catalog row j asks to
	// have its changes read ahead of its refreshes, between them (dml's
	// and logdel's logical capture with Spool set): the scheduler then
	// keeps a Spool of the job running on one of its workers, on the
	// replicator Open returns, which must be a Spooler. Nil: no job of the
	// method's kinds does.
	Spools func(j *Job) bool
}

// Methods indexes methods by the catalog kinds they open. A kind listed by
// two methods is opened by the later one.
func Methods(methods ...Method) map[Kind]Method {
	m := make(map[Kind]Method, len(methods))
	for _, me := range methods {
		for _, k := range me.Kinds {
			m[k] = me
		}
	}
	return m
}
