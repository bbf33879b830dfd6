package dml

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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

// streamFetch returns how the changed rows of cs are fetched: the
// changed keys (and, for variants that keep deleted rows, the last deleted
// rows) are copied into the stream table in the source transaction that
// then streams per key the current source row (or the kept deleted row,
// or just the key), with the trigger capture's query. Every row is fetched
// as it is now, so unchanged TOASTed values, which the stream does not
// carry, are never needed; a row changed again after the stream position
// is fetched in its newer state and fetched again by the refresh that
// reads that change, which does no harm.
func streamFetch(spec *TableSpec, cs *changeSet, keeps bool) fetch {
	cols := append(spec.ColumnNames(), DeletedAtColumn)
	keyPos := make([]int, len(spec.Key))
	for i, k := range spec.Key {
		for j, c := range spec.Columns {
			if c.Name == k {
				keyPos[i] = j
			}
		}
	}
	var buf bytes.Buffer
	row := make([]*string, len(cols))
	var n int64
	for _, c := range cs.keys {
		for i := range row {
			row[i] = nil
		}
		for i, p := range keyPos {
			row[p] = c.key[i]
		}
		writeCopyRow(&buf, row)
		n++
		if keeps && c.image != nil {
			copy(row, c.image)
			ts := c.deletedAt.UTC().Format("2006-01-02 15:04:05.999999+00")
			row[len(row)-1] = &ts
			writeCopyRow(&buf, row)
			n++
		}
	}
	create := `CREATE TEMP TABLE mimeo_stream ON COMMIT DROP AS SELECT ` + List("", spec.ColumnNames()) +
		`, NULL::timestamptz AS ` + replication.QuoteIdent(DeletedAtColumn) + ` FROM ` + spec.Source.Sanitize() + ` WITH NO DATA`
	load := `COPY ` + streamTable + ` (` + List("", cols) + `) FROM STDIN`
	return fetch{
		query: changesFrom(streamEntries(n), spec, keeps),
		prepare: func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, create); err != nil {
				return fmt.Errorf("stage changed keys of %s: %w", spec.Source, err)
			}
			if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf.Bytes()), load); err != nil {
				return fmt.Errorf("stage changed keys of %s: %w", spec.Source, err)
			}
			return nil
		},
	}
}

// writeCopyRow writes one row of COPY text format; nil is NULL.
func writeCopyRow(buf *bytes.Buffer, row []*string) {
	for i, v := range row {
		if i > 0 {
			buf.WriteByte('\t')
		}
		if v == nil {
			buf.WriteString(`\N`)
			continue
		}
		buf.WriteString(copyEscaper.Replace(*v))
	}
	buf.WriteByte('\n')
}

var copyEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

// applyTruncate makes the destination reflect a TRUNCATE of the source
// read in the stream: plain DML empties it; a variant that keeps deleted
// rows marks every live row deleted at the truncation's commit time. It
// runs in the batch's transaction, before the batch is applied.
func applyTruncate(ctx context.Context, b *Batch, at time.Time) (Counts, error) {
	dest := b.Spec().Dest.Sanitize()
	var c Counts
	if b.variant.KeepsDeleted() {
		col := replication.QuoteIdent(DeletedAtColumn)
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
