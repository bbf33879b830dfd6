package replication

import (
	"context"
	"fmt"
)

// CheckDestSchema is the one rule of every kind for the destination's
// schema: it must exist. No kind creates it (creating a schema needs CREATE
// on the database, which a replication role need not have, and Destroy
// would have to decide whether to drop it), so Setup refuses a missing one
// with a *TableError wrapping ErrSchemaNotFound that gives the statement
// to run, before it makes anything.
func CheckDestSchema(ctx context.Context, db DB, dest Table) error {
	var ok bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, dest.Schema).Scan(&ok); err != nil {
		return fmt.Errorf("look up schema of %s: %w", dest, err)
	}
	if !ok {
		return &TableError{Table: dest, Err: ErrSchemaNotFound,
			Fix: fmt.Sprintf("CREATE SCHEMA %s on the destination first (pgmimeo creates no destination schema), or choose another destination with Options.Dest", QuoteIdent(dest.Schema))}
	}
	return nil
}
