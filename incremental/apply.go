package incremental

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/replication"
)

// tempTable holds the rows of one pull that are applied by key (Updater) or
// added unless present (late rows of an Inserter). It is dropped at commit.
const tempTable = "pg_temp.pgmimeo_incremental_rows"

// beginDest starts the destination transaction that writes rows and state.
func (j *job) beginDest(ctx context.Context, conn *pgxpool.Conn) (pgx.Tx, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin destination transaction: %w", err)
	}
	if !j.cfg.DurableCommit {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("begin destination transaction: %w", err)
		}
	}
	return tx, nil
}

// commitState saves st as the state of job id in tx, with the rows tx
// wrote, and commits tx; what names the run in the error ("refresh",
// "repull").
func (j *job) commitState(ctx context.Context, tx pgx.Tx, id int64, st state, what string) error {
	if err := j.catalog.SaveState(ctx, tx, id, st); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s of %s: %w", what, j.dst, err)
	}
	return nil
}

// destColumns returns the destination's columns matching the replicated
// columns, in the same order.
func (j *job) destColumns(ctx context.Context, tx pgx.Tx, p *plan) (*replication.TableInfo, []replication.Column, error) {
	info, err := replication.Describe(ctx, tx, j.dst)
	if err != nil {
		return nil, nil, err
	}
	out := make([]replication.Column, len(p.cols))
	for i, c := range p.cols {
		dc, ok := info.Column(c.Name)
		if !ok {
			return nil, nil, &replication.ColumnError{Table: j.dst, Column: c.Name, Err: replication.ErrColumnNotFound,
				Fix: "the destination table lacks a replicated column: add it, or destroy and set up the job again"}
		}
		out[i] = dc
	}
	return info, out, nil
}

// copyRows streams the result of query on the source into table into on the
// destination (already quoted), in binary when the column types allow it.
func (j *job) copyRows(ctx context.Context, s *sourceRead, tx pgx.Tx, p *plan, query, into string, destCols []replication.Column, freeze bool) (copypipe.Stats, error) {
	spec := copypipe.Spec{
		Query:   query,
		Dest:    into,
		Columns: p.colNames(),
		Binary:  copypipe.CanBinary(p.cols, destCols),
		Freeze:  freeze,
	}
	st, err := copypipe.Copy(ctx, s.tx.Conn().PgConn(), tx.Conn().PgConn(), spec)
	if err != nil {
		return st, fmt.Errorf("pull rows of %s into %s: %w", j.src, j.dst, err)
	}
	return st, nil
}

// createTemp makes the temporary table for one pull, with the destination's
// column types.
func (j *job) createTemp(ctx context.Context, tx pgx.Tx, p *plan) error {
	_, err := tx.Exec(ctx, "CREATE TEMP TABLE "+strings.TrimPrefix(tempTable, "pg_temp.")+
		" ON COMMIT DROP AS SELECT "+p.colList()+" FROM "+j.dst.Sanitize()+" WITH NO DATA")
	if err != nil {
		return fmt.Errorf("create temporary table for %s: %w", j.dst, err)
	}
	return nil
}

// keyJoin returns "d.k1 = t.k1 AND …" for the key columns.
func keyJoin(key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		q := replication.QuoteIdent(k)
		parts[i] = "d." + q + " = t." + q
	}
	return strings.Join(parts, " AND ")
}

// applyByKey replaces the destination rows whose keys are in the temporary
// table with its rows, set-wise: one DELETE … USING and one INSERT … SELECT.
// updated counts the keys that were present, inserted the others.
func (j *job) applyByKey(ctx context.Context, tx pgx.Tx, p *plan) (inserted, updated int64, err error) {
	if _, err := tx.Exec(ctx, "ANALYZE "+tempTable); err != nil {
		return 0, 0, fmt.Errorf("analyze pulled rows of %s: %w", j.dst, err)
	}
	tag, err := tx.Exec(ctx, "DELETE FROM "+j.dst.Sanitize()+" d USING "+tempTable+" t WHERE "+keyJoin(p.key))
	if err != nil {
		return 0, 0, fmt.Errorf("delete changed rows of %s: %w", j.dst, err)
	}
	updated = tag.RowsAffected()
	tag, err = tx.Exec(ctx, "INSERT INTO "+j.dst.Sanitize()+" ("+p.colList()+") SELECT "+p.colList()+" FROM "+tempTable)
	if err != nil {
		return 0, 0, fmt.Errorf("insert changed rows of %s: %w", j.dst, err)
	}
	return tag.RowsAffected() - updated, updated, nil
}

// insertMissing adds the rows of the temporary table that do not conflict
// with a unique index of the destination (late rows of an Inserter, which a
// destination without unique index cannot tell from rows it has).
func (j *job) insertMissing(ctx context.Context, tx pgx.Tx, p *plan) (int64, error) {
	tag, err := tx.Exec(ctx, "INSERT INTO "+j.dst.Sanitize()+" ("+p.colList()+") SELECT "+p.colList()+" FROM "+tempTable+" ON CONFLICT DO NOTHING")
	if err != nil {
		return 0, fmt.Errorf("insert late rows into %s: %w", j.dst, err)
	}
	return tag.RowsAffected(), nil
}
