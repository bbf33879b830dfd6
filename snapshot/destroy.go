package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Destroy removes the job under the destination's lock, in one destination
// transaction: the catalog row, the view and both tables. With
// opts.KeepTable the view is replaced by a real table of the same name
// holding the last copy (the table the view showed, renamed, with its
// indexes), which also gets the privileges that were granted on the view.
func (s *Snapshot) Destroy(ctx context.Context, opts *replication.DestroyOptions) error {
	return s.destroyJob(ctx, &s.cfg.Options, "Snapshot Destroyer", replication.KindSnapshot,
		func(ctx context.Context, run *replication.JobRun, tx pgx.Tx) error { return s.drop(ctx, run, tx, opts) })
}

// drop removes the view and both tables in tx, or with opts.KeepTable
// turns the view into the table it showed.
func (s *Snapshot) drop(ctx context.Context, run *replication.JobRun, tx pgx.Tx, opts *replication.DestroyOptions) error {
	dst, err := inspectDest(ctx, tx, s.dst)
	if err != nil {
		return err
	}
	if dst.kind != "" && dst.kind != "v" {
		return &replication.TableError{Table: s.dst, Err: replication.ErrExists,
			Fix: "the destination is no longer the snapshot's view: drop or rename what took its name"}
	}
	if opts.Keep() && (dst.kind != "v" || dst.active == 0) {
		return &replication.TableError{Table: s.dst, Err: replication.ErrNotManaged,
			Fix: "the view no longer shows one of the snapshot tables, so there is no copy to keep; destroy without KeepTable"}
	}
	var locks []replication.Table
	if dst.kind == "v" {
		locks = append(locks, s.dst)
	}
	for n := 1; n <= 2; n++ {
		if dst.cols[n] != nil {
			locks = append(locks, snapTable(s.dst, n))
		}
	}
	if err := lockTables(ctx, tx, s.cfg.LoadOptions, locks...); err != nil {
		return err
	}
	keep := 0
	if opts.Keep() {
		keep = dst.active
		run.Step(ctx, "Turning view "+s.dst.String()+" into a table")
	} else {
		run.Step(ctx, "Dropping view "+s.dst.String()+" and its tables")
	}
	var viewPriv *privileges
	if dst.kind == "v" {
		if viewPriv, err = capturePrivileges(ctx, tx, s.dst); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DROP VIEW "+s.dst.Sanitize()); err != nil {
			return fmt.Errorf("drop view %s: %w", s.dst, err)
		}
	}
	for n := 1; n <= 2; n++ {
		if dst.cols[n] == nil || n == keep {
			continue
		}
		if _, err := tx.Exec(ctx, "DROP TABLE "+snapTable(s.dst, n).Sanitize()); err != nil {
			return fmt.Errorf("drop %s: %w", snapTable(s.dst, n), err)
		}
	}
	if keep == 0 {
		return nil
	}
	kept := snapTable(s.dst, keep)
	if _, err := tx.Exec(ctx, "ALTER TABLE "+kept.Sanitize()+" RENAME TO "+replication.QuoteIdent(s.dst.Name)); err != nil {
		return fmt.Errorf("rename %s to %s: %w", kept, s.dst, err)
	}
	if err := renameIndexes(ctx, tx, kept, s.dst); err != nil {
		return err
	}
	if viewPriv == nil {
		return nil
	}
	// The view's options (security_barrier…) do not apply to a table.
	viewPriv.options = nil
	return viewPriv.apply(ctx, tx, "TABLE", s.dst)
}

// renameIndexes renames the indexes of table t (now named as dest) whose
// names start with the old table name, so that <dest>_snap1_pkey becomes
// <dest>_pkey; a name already taken is left as it was.
func renameIndexes(ctx context.Context, tx pgx.Tx, old, dest replication.Table) error {
	names, err := indexNames(ctx, tx, dest)
	if err != nil {
		return err
	}
	for name := range names {
		rest, ok := strings.CutPrefix(name, old.Name)
		if !ok {
			continue
		}
		want := dest.WithName(dest.Name + rest)
		free, err := nameFree(ctx, tx, want)
		if err != nil {
			return err
		}
		if !free {
			continue
		}
		if _, err := tx.Exec(ctx, "ALTER INDEX "+dest.WithName(name).Sanitize()+" RENAME TO "+replication.QuoteIdent(want.Name)); err != nil {
			return fmt.Errorf("rename index %s: %w", replication.QuoteIdent(name), err)
		}
	}
	return nil
}
