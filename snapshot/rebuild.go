package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// rebuild re-creates both tables and the view with the source's new
// columns: tgt is built and loaded while readers still use the old view,
// then, under the view's lock, the view and the old table are replaced.
// Privileges of the view and the tables are kept; the post-scripts run last.
func (s *Snapshot) rebuild(ctx context.Context, tx pgx.Tx, srcConn *pgxpool.Conn, src *source, cols []columnSig,
	srcIdx []replication.Index, dst *destStatus, tgt, oth replication.Table, postScripts []string, run *replication.JobRun) (copypipe.Stats, error) {
	var st copypipe.Stats
	run.Step(ctx, "Rebuilding and loading "+tgt.String())
	tgtPriv, err := dropForRebuild(ctx, tx, s.cfg.LoadOptions, tgt, "TABLE")
	if err != nil {
		return st, err
	}
	if err := createTable(ctx, tx, tgt, cols); err != nil {
		return st, err
	}
	if st, err = load(ctx, tx, srcConn.Conn().PgConn(), src, tgt, true, s.cfg.LoadOptions); err != nil {
		return st, err
	}
	run.Done(ctx, "Inserted %d rows (%d bytes)", st.Rows, st.Bytes)
	if len(srcIdx) > 0 {
		run.Step(ctx, "Creating indexes on "+tgt.String())
		if err := createSourceIndexes(ctx, tx, tgt, srcIdx); err != nil {
			return st, err
		}
	}
	if err := analyze(ctx, tx, tgt); err != nil {
		return st, err
	}
	if err := tgtPriv.apply(ctx, tx, "TABLE", tgt); err != nil {
		return st, err
	}

	run.Step(ctx, "Rebuilding view "+s.dst.String()+" over "+tgt.String())
	var viewPriv *privileges
	if dst.kind == "v" {
		if viewPriv, err = dropForRebuild(ctx, tx, s.cfg.LoadOptions, s.dst, "VIEW"); err != nil {
			return st, err
		}
	}
	othPriv, err := dropForRebuild(ctx, tx, s.cfg.LoadOptions, oth, "TABLE")
	if err != nil {
		return st, err
	}
	if err := createTable(ctx, tx, oth, cols); err != nil {
		return st, err
	}
	if err := createSourceIndexes(ctx, tx, oth, srcIdx); err != nil {
		return st, err
	}
	if err := othPriv.apply(ctx, tx, "TABLE", oth); err != nil {
		return st, err
	}
	if err := createView(ctx, tx, s.dst, tgt, src.names(), viewPriv); err != nil {
		return st, err
	}
	run.Done(ctx, "Tables and view rebuilt; privileges restored")
	if len(postScripts) > 0 {
		run.Step(ctx, "Running post-scripts after the column change")
		for i, script := range postScripts {
			if _, err := tx.Exec(ctx, script, pgx.QueryExecModeSimpleProtocol); err != nil {
				return st, fmt.Errorf("post-script %d of %s: %w", i+1, s.dst, err)
			}
		}
	}
	return st, nil
}

// dropForRebuild locks and drops t (a TABLE or VIEW) if it exists, and
// returns its privileges to give the object that replaces it.
func dropForRebuild(ctx context.Context, tx pgx.Tx, o LoadOptions, t replication.Table, kind string) (*privileges, error) {
	k, err := relKind(ctx, tx, t)
	if err != nil || k == "" {
		return nil, err
	}
	if err := lockTables(ctx, tx, o, t); err != nil {
		return nil, err
	}
	p, err := capturePrivileges(ctx, tx, t)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "DROP "+kind+" "+t.Sanitize()); err != nil {
		return nil, fmt.Errorf("drop %s for the rebuild: %w", t, err)
	}
	return p, nil
}
