package snapshot

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// preflight fails setup early, before anything is created, when the
// source role lacks what a whole-table job needs (USAGE on the table's
// schema, SELECT on the replicated columns): the error names the table and
// the GRANT that provides it (see check.Preflight).
func preflight(ctx context.Context, db replication.DB, src *source, columns []string, kind replication.Kind) error {
	rep, err := check.Preflight(ctx, db, src.table(), &check.PreflightConfig{Columns: columns})
	if err != nil {
		return err
	}
	return rep.Require(kind, false)
}
