package snapshot

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// prerequisite is what a whole-table job of kind k needs of the source
// (USAGE on the table's schema, SELECT on the replicated columns): the one
// list Setup checks and Method declares for check.Preflight.
func prerequisite(k replication.Kind) replication.Prerequisite {
	return replication.Prerequisite{Kind: k, Requires: []replication.Requirement{replication.ReqSchemaUsage, replication.ReqSelect}}
}

// preflight fails setup early, before anything is created, when the
// source role lacks a prerequisite of kind: the error names the table and
// the GRANT that provides it (see check.Preflight).
func preflight(ctx context.Context, db replication.DB, src *source, columns []string, kind replication.Kind) error {
	rep, err := check.Preflight(ctx, db, src.table(), &check.PreflightConfig{Columns: columns})
	if err != nil {
		return err
	}
	return rep.RequireOf(prerequisite(kind))
}
