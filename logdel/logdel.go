package logdel

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/replication"
)

// DeletedColumn is the destination column that holds the time a row was
// deleted on the source; it is NULL for live rows.
const DeletedColumn = "mimeo_source_deleted"

// Config is dml's Config: logdel jobs take the same options.
type Config = dml.Config

// New returns the LogDeletes replicator of source table table from the
// source pool into the destination pool: DML replay that keeps deleted rows
// on the destination, stamped in DeletedColumn. A nil cfg is the zero
// Config. The returned replicator is dml's, with Config.KeepDeleted set.
func New(source, dest *pgxpool.Pool, table replication.Table, cfg *Config) (*dml.Replicator, error) {
	return dml.New(source, dest, table, keepDeleted(cfg))
}

// keepDeleted returns a copy of cfg (nil allowed) with KeepDeleted set.
func keepDeleted(cfg *Config) *Config {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.KeepDeleted = true
	return &c
}

// Open returns the replicator of the catalog's logdel job that replicates
// into destination table dest, for workers; see dml.Open for what comes
// from the catalog and what from rt.
func Open(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt *Config) (*dml.Replicator, error) {
	return dml.Open(ctx, source, dest, destTable, keepDeleted(rt))
}

// Method is the logdel kind as a value, for the scheduler and the
// operator command: it opens the catalog's logdel jobs (see Open).
var Method = replication.Method{
	Name:  "logdel",
	Kinds: []replication.Kind{replication.KindLogDel},
	Open: func(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, o replication.Options) (replication.Replicator, error) {
		return Open(ctx, source, destPool, dest, &Config{Options: o})
	},
	Prerequisites: []replication.Prerequisite{(&dml.Config{KeepDeleted: true}).Prerequisite(),
		(&dml.Config{KeepDeleted: true, Capture: dml.CaptureLogical}).Prerequisite()},
	Spools: dml.Method.Spools,
}
