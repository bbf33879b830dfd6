package incremental

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Method is the four incremental kinds (inserter and updater, by time or
// serial) as a value, for the scheduler and the operator command: it opens
// their catalog jobs (see Open).
var Method = replication.Method{
	Name: "incremental",
	Kinds: []replication.Kind{replication.KindInserterTime, replication.KindInserterSerial,
		replication.KindUpdaterTime, replication.KindUpdaterSerial},
	Open: func(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, o replication.Options) (replication.Replicator, error) {
		return Open(ctx, source, destPool, dest, &Config{Options: o})
	},
	Prerequisites: []replication.Prerequisite{prerequisite(replication.KindInserterTime), prerequisite(replication.KindInserterSerial),
		prerequisite(replication.KindUpdaterTime), prerequisite(replication.KindUpdaterSerial)},
}
