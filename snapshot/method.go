package snapshot

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Method is the snapshot kind as a value, for the scheduler and the
// operator command: it opens the catalog's snapshot jobs (see Open).
var Method = replication.Method{
	Name:  "snapshot",
	Kinds: []replication.Kind{replication.KindSnapshot},
	Open: func(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, o replication.Options) (replication.Replicator, error) {
		o.BatchLimit = 0
		return Open(ctx, source, destPool, dest, &Config{Options: o})
	},
	Prerequisites: []replication.Prerequisite{prerequisite(replication.KindSnapshot)},
}

// TableMethod is the table kind (truncate and reload) as a value: it opens
// the catalog's table jobs (see OpenTable).
var TableMethod = replication.Method{
	Name:  "table",
	Kinds: []replication.Kind{replication.KindTableReload},
	Open: func(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, o replication.Options) (replication.Replicator, error) {
		o.BatchLimit = 0
		return OpenTable(ctx, source, destPool, dest, &TableConfig{Options: o})
	},
	Prerequisites: []replication.Prerequisite{prerequisite(replication.KindTableReload)},
}
