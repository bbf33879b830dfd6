package dml

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Open returns the replicator of the catalog's dml job that replicates
// into destination table dest, for workers that run jobs set up elsewhere.
// What the job replicates (source table, key, columns, condition, queue,
// capture) comes from the catalog; of rt (which may be nil) only the
// run-time fields are used: Options.LockWait, JobLog, Logger, Catalog,
// MeterProvider, TracerProvider and
// BatchLimit (0: the job's own), and KeepDeleted, which says the kind the
// job must be of (logdel when true). A job of another kind is a
// *replication.TableError wrapping ErrWrongKind.
func Open(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, rt *Config) (*Replicator, error) {
	if destPool == nil {
		return nil, &replication.OptionError{Field: "dest", Problem: "the destination pool is required"}
	}
	var c Config
	if rt != nil {
		c.LockWait, c.JobLog, c.Logger, c.Catalog, c.BatchLimit = rt.LockWait, rt.JobLog, rt.Logger, rt.Catalog, rt.BatchLimit
		c.MeterProvider, c.TracerProvider = rt.MeterProvider, rt.TracerProvider
		c.KeepDeleted = rt.KeepDeleted
	}
	v := c.variant()
	row, err := replication.NewCatalog(c.CatalogSchema()).Job(ctx, destPool, dest)
	if err != nil {
		return nil, err
	}
	if row.Kind != v.Kind() {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("the job is of kind %q, not %q", row.Kind, v.Kind())}
	}
	jc, _, err := decodeJob(row)
	if err != nil {
		return nil, err
	}
	c.Dest = dest
	c.SourceName = row.SourceName
	c.Period = row.Period
	c.QueueSchema = jc.QueueSchema
	c.Capture = jc.Capture
	c.FetchFirst = jc.FetchFirst
	c.Logical.Spool = jc.Spool
	return New(source, destPool, row.SourceTable, &c)
}
