package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// endpoints is what a Snapshot and a Table share: the two pools, the
// source and destination tables, and the catalog that records the job.
type endpoints struct {
	source  *pgxpool.Pool
	dest    *pgxpool.Pool
	src     replication.Table
	dst     replication.Table
	catalog *replication.Catalog
}

// newEndpoints checks the pools and the source name and resolves the
// destination and the catalog from opts.
func newEndpoints(source, dest *pgxpool.Pool, src replication.Table, opts *replication.Options) (endpoints, error) {
	if source == nil || dest == nil {
		return endpoints{}, &replication.OptionError{Field: "source, dest", Problem: "both pools are required"}
	}
	if err := src.Validate(); err != nil {
		return endpoints{}, err
	}
	return endpoints{source: source, dest: dest, src: src, dst: opts.DestFor(src),
		catalog: replication.NewCatalog(opts.CatalogSchema())}, nil
}

// Dest returns the destination: a view for a Snapshot, a table for a Table.
func (e *endpoints) Dest() replication.Table { return e.dst }

// Source returns the source table.
func (e *endpoints) Source() replication.Table { return e.src }

// lockDest acquires a destination connection and takes the destination
// table's refresh lock on it, waiting as opts.LockWait says. When the lock
// is held elsewhere and skipped is not empty, a skipped run of that name is
// logged (a WARNING job) and the error wraps ErrLocked. release lets the
// lock and the connection go; nothing is held when err is not nil.
func lockDest(ctx context.Context, dest *pgxpool.Pool, dst replication.Table, opts *replication.Options, skipped string) (conn *pgxpool.Conn, release func(), err error) {
	conn, err = dest.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to destination: %w", err)
	}
	lock, err := replication.AcquireLock(ctx, conn, dst, opts.LockWait)
	if err != nil {
		conn.Release()
		if errors.Is(err, replication.ErrLocked) && skipped != "" {
			replication.Skipped(ctx, opts.JobLog, opts.Logger, skipped, err)
		}
		return nil, nil, err
	}
	return conn, func() { _ = lock.Release(ctx); conn.Release() }, nil
}

// skippedLocked is the result of a run that found the lock taken.
func skippedLocked(start time.Time) replication.Result {
	return replication.Result{Skipped: true, SkipReason: SkipLocked, Duration: time.Since(start)}
}
