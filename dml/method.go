package dml

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Method is the dml kind as a value, for the scheduler and the operator
// command: it opens the catalog's dml jobs (see Open).
var Method = replication.Method{
	Name:  "dml",
	Kinds: []replication.Kind{replication.KindDML},
	Open: func(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, o replication.Options) (replication.Replicator, error) {
		return Open(ctx, source, destPool, dest, &Config{Options: o})
	},
	Prerequisites: []replication.Prerequisite{(&Config{}).Prerequisite(), (&Config{Capture: CaptureLogical}).Prerequisite()},
	Spools:        spools,
}

// spools reports whether catalog job j asks for a Spool (Config.Logical.Spool).
func spools(j *replication.Job) bool {
	var jc jobConfig
	return json.Unmarshal(j.Config, &jc) == nil && jc.Capture == CaptureLogical && jc.Spool
}
