package scheduler

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// DefaultRegistry returns a new Registry with an Opener for every kind this
// module implements so far: snapshot, table, and the four incremental kinds
// (inserter and updater, by time or serial).
//
// The dml and logdel kinds are not in it yet: their packages will add
// OpenDML/OpenLogDel-style functions of their own, and an entry for
// replication.KindDML and replication.KindLogDel goes here, as for the
// kinds below. Until then a dml or logdel job in the catalog fails with
// ErrNoOpener (and is logged and backed off like any failure), unless the
// caller adds an Opener for it to the Registry it gives the Scheduler.
func DefaultRegistry() Registry {
	return Registry{
		replication.KindSnapshot:       openSnapshot,
		replication.KindTableReload:    openTable,
		replication.KindInserterTime:   openIncremental,
		replication.KindInserterSerial: openIncremental,
		replication.KindUpdaterTime:    openIncremental,
		replication.KindUpdaterSerial:  openIncremental,
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
