package incremental

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// lockedDDL runs stmt on the job's destination in tx under
// Options.DDLLockTimeout, in a savepoint, retrying up to Options.DDLRetries
// more times when the lock is not granted in time (SQLSTATE 55P03), so that
// a busy table is not queued behind (and does not queue every reader behind
// it) for ever.
func (j *job) lockedDDL(ctx context.Context, tx pgx.Tx, stmt string) error {
	timeout, retries := j.cfg.DDLLock()
	err := sqltext.LockRetry(ctx, tx, timeout, retries, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, stmt)
		return err
	})
	if sqltext.IsLockTimeout(err) {
		return &replication.TableError{Table: j.dst, Err: err,
			Fix: fmt.Sprintf("other sessions held the table's lock through %d tries: retry when it is less busy, or raise Options.DDLLockTimeout or Options.DDLRetries", retries+1)}
	}
	return err
}

// createTableSQL returns CREATE TABLE for the destination with the
// replicated columns' types and NOT NULL constraints.
func createTableSQL(dst replication.Table, cols []replication.Column) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = replication.QuoteIdent(c.Name) + " " + c.Type
		if c.NotNull {
			defs[i] += " NOT NULL"
		}
	}
	return "CREATE TABLE " + dst.Sanitize() + " (" + strings.Join(defs, ", ") + ")"
}

// createIndexes makes the source's indexes on the new destination table:
// the primary key as a primary key, the others with their method, columns,
// operator classes and predicate. An index on a column the filter leaves out
// is skipped. It reports whether a unique index on exactly key was made.
func (j *job) createIndexes(ctx context.Context, tx pgx.Tx, p *plan) (keyDone bool, skipped []string, err error) {
	ixs, err := p.info.Indexes(ctx, j.source)
	if err != nil {
		return false, nil, err
	}
	for _, ix := range ixs {
		var stmt string
		switch {
		case ix.Primary && p.info.Key != nil && p.info.Key.Primary:
			stmt = "ALTER TABLE " + j.dst.Sanitize() + " ADD PRIMARY KEY (" + sqltext.IdentList("", p.info.Key.Columns) + ")"
		case ix.Unique:
			stmt = "CREATE UNIQUE INDEX ON " + j.dst.Sanitize() + " " + ix.Body
		default:
			stmt = "CREATE INDEX ON " + j.dst.Sanitize() + " " + ix.Body
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return false, nil, err
		}
		if _, err := sp.Exec(ctx, stmt); err != nil {
			_ = sp.Rollback(context.WithoutCancel(ctx))
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UndefinedColumn {
				skipped = append(skipped, ix.Name)
				continue
			}
			return false, nil, fmt.Errorf("replicate index %s on %s: %w", replication.QuoteIdent(ix.Name), j.dst, err)
		}
		if err := sp.Commit(ctx); err != nil {
			return false, nil, err
		}
		if ix.Unique && p.info.Key != nil && ix.Name == p.info.Key.Index && slices.Equal(p.info.Key.Columns, p.key) {
			keyDone = true
		}
	}
	return keyDone, skipped, nil
}

// createKeyIndex makes the unique index the Updater replaces rows by.
func (j *job) createKeyIndex(ctx context.Context, tx pgx.Tx, p *plan) error {
	if _, err := tx.Exec(ctx, "CREATE UNIQUE INDEX ON "+j.dst.Sanitize()+" ("+sqltext.IdentList("", p.key)+")"); err != nil {
		return fmt.Errorf("create key index on %s: %w", j.dst, err)
	}
	return nil
}
