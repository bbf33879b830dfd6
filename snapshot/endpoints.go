package snapshot

import (
	"context"

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

// run runs body as one run of the job (replication.Run: the destination's
// lock, the job log named name, failure counting, the event).
func (e *endpoints) run(ctx context.Context, op replication.Op, kind replication.Kind, name string, opts *replication.Options,
	body replication.Body) (replication.Result, error) {
	return replication.Run{Op: op, Kind: kind, Dest: e.dst, Name: name, Pool: e.dest, Catalog: e.catalog, Options: opts}.Do(ctx, body)
}
