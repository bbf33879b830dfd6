package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// snapTable returns the n-th (1 or 2) snapshot table of view dest.
func snapTable(dest replication.Table, n int) replication.Table {
	return dest.WithName(fmt.Sprintf("%s_snap%d", dest.Name, n))
}

// snapName is the state's name of the n-th snapshot table.
func snapName(n int) string { return fmt.Sprintf("snap%d", n) }

// viewSQL returns the statement that points view dest at table snap.
func viewSQL(verb string, dest, snap replication.Table, names []string, options []string) string {
	with := ""
	if len(options) > 0 {
		with = " WITH (" + strings.Join(options, ", ") + ")"
	}
	return verb + " " + dest.Sanitize() + with + " AS SELECT " + sqltext.IdentList("", names) + " FROM " + snap.Sanitize()
}

// swapView points the existing view dest at snap, whose columns are the
// same as the view's. The caller holds the view's lock; the swap becomes
// visible to readers when the transaction commits. The view's options
// (security_barrier…), which CREATE OR REPLACE VIEW would reset, are kept;
// its grants, owner and comment stay as they are.
func swapView(ctx context.Context, tx pgx.Tx, dest, snap replication.Table, names []string) error {
	var options []string
	if err := tx.QueryRow(ctx, `SELECT reloptions FROM pg_catalog.pg_class WHERE oid = $1::regclass`, dest.Sanitize()).Scan(&options); err != nil {
		return fmt.Errorf("read options of view %s: %w", dest, err)
	}
	if _, err := tx.Exec(ctx, viewSQL("CREATE OR REPLACE VIEW", dest, snap, names, options)); err != nil {
		return fmt.Errorf("swap view %s to %s: %w", dest, snap, err)
	}
	return nil
}

// createView makes view dest over snap and gives it the captured
// privileges (and options) of the view it replaces, if any.
func createView(ctx context.Context, tx pgx.Tx, dest, snap replication.Table, names []string, p *privileges) error {
	var options []string
	if p != nil {
		options = p.options
	}
	if _, err := tx.Exec(ctx, viewSQL("CREATE VIEW", dest, snap, names, options)); err != nil {
		return fmt.Errorf("create view %s: %w", dest, err)
	}
	return p.apply(ctx, tx, "VIEW", dest)
}
