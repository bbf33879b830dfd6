package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// load streams the source's rows into dest inside tx with one COPY pipe:
// binary when every column type allows, text otherwise, and with FREEZE when
// freeze is set (dest must then have been created or truncated in tx).
// Rows never pass through Go values.
func load(ctx context.Context, tx pgx.Tx, srcConn *pgconn.PgConn, src *source, dest replication.Table, freeze bool, o LoadOptions) (copypipe.Stats, error) {
	info, err := replication.Describe(ctx, tx, dest)
	if err != nil {
		return copypipe.Stats{}, err
	}
	dstCols := make([]replication.Column, len(src.cols))
	for i, c := range src.cols {
		d, ok := info.Column(c.Name)
		if !ok {
			return copypipe.Stats{}, &replication.ColumnError{Table: dest, Column: c.Name, Err: replication.ErrColumnNotFound,
				Fix: "add the column to the destination table (type " + c.Type + ")"}
		}
		dstCols[i] = d
	}
	spec := copypipe.Spec{
		Query:         src.query(),
		Dest:          dest.Sanitize(),
		Columns:       src.names(),
		Binary:        copypipe.CanBinary(src.cols, dstCols),
		Freeze:        freeze && info.Kind == replication.KindTable,
		Progress:      o.Progress,
		ProgressEvery: o.progressEvery(),
	}
	st, err := copypipe.Copy(ctx, srcConn, tx.Conn().PgConn(), spec)
	if err != nil {
		return st, fmt.Errorf("load %s from %s: %w", dest, src.table(), err)
	}
	return st, nil
}

// analyze gathers planner statistics on t, so the first queries after the
// swap are planned for the new rows.
func analyze(ctx context.Context, tx pgx.Tx, t replication.Table) error {
	if _, err := tx.Exec(ctx, "ANALYZE "+t.Sanitize()); err != nil {
		return fmt.Errorf("analyze %s: %w", t, err)
	}
	return nil
}

// beginLoad opens the destination transaction of a load.
func beginLoad(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}, o LoadOptions) (pgx.Tx, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin destination transaction: %w", err)
	}
	if !o.durable {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("begin destination transaction: %w", err)
		}
	}
	if o.MaintenanceWorkMem != "" {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('maintenance_work_mem', $1, true)", o.MaintenanceWorkMem); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("%w: %w", &replication.OptionError{Field: "LoadOptions.MaintenanceWorkMem",
				Problem: "the destination refuses it as maintenance_work_mem"}, err)
		}
	}
	return tx, nil
}

// checkSettings tries the transaction settings of o on the destination, so
// that setup refuses a bad value before it creates anything.
func checkSettings(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}, o LoadOptions) error {
	tx, err := beginLoad(ctx, conn, o)
	if err != nil {
		return err
	}
	return tx.Rollback(ctx)
}
