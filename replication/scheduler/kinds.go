package scheduler

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// DefaultRegistry returns a new Registry with an Opener for every kind this
// module implements: snapshot, table, the four incremental kinds (inserter
// and updater, by time or serial), dml and logdel (either capture).
func DefaultRegistry() Registry {
	return Registry{
		replication.KindSnapshot:       openSnapshot,
		replication.KindTableReload:    openTable,
		replication.KindInserterTime:   openIncremental,
		replication.KindInserterSerial: openIncremental,
		replication.KindUpdaterTime:    openIncremental,
		replication.KindUpdaterSerial:  openIncremental,
		replication.KindDML:            openDML,
		replication.KindLogDel:         openLogDel,
	}
}

func openSnapshot(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	return snapshot.Open(ctx, source, dest, destTable, &snapshot.Config{Options: rt.options()})
}

func openTable(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	return snapshot.OpenTable(ctx, source, dest, destTable, &snapshot.TableConfig{Options: rt.options()})
}

func openIncremental(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	o := rt.options()
	o.BatchLimit = rt.BatchLimit
	return incremental.Open(ctx, source, dest, destTable, &incremental.Config{Options: o})
}

func openDML(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	o := rt.options()
	o.BatchLimit = rt.BatchLimit
	return dml.Open(ctx, source, dest, destTable, &dml.Config{Options: o})
}

func openLogDel(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt Runtime) (replication.Replicator, error) {
	o := rt.options()
	o.BatchLimit = rt.BatchLimit
	return logdel.Open(ctx, source, dest, destTable, &logdel.Config{Options: o})
}
