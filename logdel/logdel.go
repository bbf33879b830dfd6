package logdel

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/replication"
)

// DeletedColumn is the destination column that holds the time a row was
// deleted on the source; it is NULL for live rows.
const DeletedColumn = dml.DeletedAtColumn

// Config is dml's Config: logdel jobs take the same options.
type Config = dml.Config

// New returns the LogDeletes replicator of source table table from the
// source pool into the destination pool: DML replay that keeps deleted rows
// on the destination, stamped in DeletedColumn. A nil cfg is the zero
// Config. The returned replicator is dml's, running this package's variant.
func New(source, dest *pgxpool.Pool, table replication.Table, cfg *Config) (*dml.Replicator, error) {
	return dml.NewVariant(source, dest, table, cfg, Variant)
}

// Open returns the replicator of the catalog's logdel job that replicates
// into destination table dest, for workers; see dml.Open for what comes
// from the catalog and what from rt.
func Open(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt *Config) (*dml.Replicator, error) {
	return dml.OpenVariant(ctx, source, dest, destTable, rt, Variant)
}
