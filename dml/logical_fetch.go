package dml

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// streamTable is the temporary source table that holds the keys (and, for
// variants that keep deleted rows, the deleted rows) of a change set while
// their current rows are fetched. It has the shape of a queue table, so the
// trigger capture's fetch query serves.
const streamTable = "pg_temp.mimeo_stream"

// streamEntries are the entries of the stream table.
func streamEntries(n int64) entries {
	return entries{from: streamTable + ` WHERE true`, n: n}
}

// streamFetch returns how the rows of keys, which the stream did not give
// (see logical_image.go), are fetched: those keys (and, for variants
// that keep deleted rows, their last deleted rows) are copied into the
// stream table in the source transaction that then streams per key the
// current source row (or the kept deleted row, or just the key), with the
// trigger capture's query. Such a row is fetched as it is now, so
// unchanged TOASTed values, which the stream does not carry, are never
// needed; a row changed again after the stream position is fetched in its
// newer state and fetched again by the refresh that reads that change,
// which does no harm.
func streamFetch(spec *keyapply.TableSpec, keys map[string]change, keeps bool) fetch {
	cols := append(spec.ColumnNames(), keyapply.DeletedAtColumn)
	keyOf := keyPositions(spec)
	var buf []byte
	var n int64
	for k, c := range keys {
		buf = appendKeyOnly(buf, spec, keyOf, k)
		buf = append(buf, "\t\\N\n"...)
		n++
		if keeps && c.deleted {
			buf = append(buf, c.image...)
			buf = append(buf, '\t')
			buf = c.deletedAt.UTC().AppendFormat(buf, "2006-01-02 15:04:05.999999+00")
			buf = append(buf, '\n')
			n++
		}
	}
	create := `CREATE TEMP TABLE mimeo_stream ON COMMIT DROP AS SELECT ` + sqltext.IdentList("", spec.ColumnNames()) +
		`, NULL::timestamptz AS ` + replication.QuoteIdent(keyapply.DeletedAtColumn) + ` FROM ` + spec.Source.Sanitize() + ` WITH NO DATA`
	load := `COPY ` + streamTable + ` (` + sqltext.IdentList("", cols) + `) FROM STDIN`
	return fetch{
		query: changesFrom(streamEntries(n), spec, keeps),
		prepare: func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, create); err != nil {
				return fmt.Errorf("stage changed keys of %s: %w", spec.Source, err)
			}
			if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf), load); err != nil {
				return fmt.Errorf("stage changed keys of %s: %w", spec.Source, err)
			}
			return nil
		},
	}
}

// applyTruncate makes the destination reflect a TRUNCATE of the source
// read in the stream: plain DML empties it; a variant that keeps deleted
// rows marks every live row deleted at the truncation's commit time. It
// runs in the batch's transaction, before the batch is applied.
func applyTruncate(ctx context.Context, b *keyapply.Batch, at time.Time) (keyapply.Counts, error) {
	dest := b.Spec().Dest.Sanitize()
	var c keyapply.Counts
	if b.KeepsDeleted() {
		col := replication.QuoteIdent(keyapply.DeletedAtColumn)
		tag, err := b.Tx().Exec(ctx, `UPDATE `+dest+` SET `+col+` = $1 WHERE `+col+` IS NULL`, at)
		if err != nil {
			return c, fmt.Errorf("replicate truncate of %s: %w", b.Spec().Source, err)
		}
		c.Deleted = tag.RowsAffected()
		return c, nil
	}
	tag, err := b.Tx().Exec(ctx, `DELETE FROM `+dest)
	if err != nil {
		return c, fmt.Errorf("replicate truncate of %s: %w", b.Spec().Source, err)
	}
	c.Deleted = tag.RowsAffected()
	return c, nil
}
