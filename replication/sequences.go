package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SequenceSync is what SyncSequences did for one column.
type SequenceSync struct {
	// Column is the column whose default or identity draws from the
	// sequences.
	Column string
	// Source and Dest are the column's sequences on each side (Dest is
	// the zero Table when the destination column has none).
	Source, Dest Table
	// SourceValue is the source sequence's last value handed out (0 when
	// none was).
	SourceValue int64
	// Set is the value the destination sequence was set to: at least
	// SourceValue, the destination sequence's own last value and the
	// highest value in the destination column. 0 when nothing was set.
	Set int64
}

// SyncSequences sets each sequence of destination table dst (on dest)
// at or above its counterpart on source table src (on source): for every
// column of src whose default or identity draws from a sequence, the
// sequence of dst's column of the same name is set so that its next value
// is above the source sequence's last one, above the destination's own,
// and above every value in the destination column. A destination column
// without a sequence is reported (Dest zero) and left alone. Usable for any
// kind of job, for example before the application moves to the
// destination; dml's Cutover calls it while writers are stopped.
func SyncSequences(ctx context.Context, source, dest DB, src, dst Table) ([]SequenceSync, error) {
	const seqOf = `SELECT a.attname::text, s.seq FROM pg_catalog.pg_attribute a,
		LATERAL (SELECT pg_catalog.pg_get_serial_sequence($1, a.attname) AS seq) s
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND s.seq IS NOT NULL ORDER BY a.attnum`
	sequences := func(db DB, t Table) (map[string]string, []string, error) {
		rows, err := db.Query(ctx, seqOf, t.Sanitize())
		if err != nil {
			return nil, nil, fmt.Errorf("sequences of %s: %w", t, err)
		}
		defer rows.Close()
		out := map[string]string{}
		var order []string
		for rows.Next() {
			var col, seq string
			if err := rows.Scan(&col, &seq); err != nil {
				return nil, nil, err
			}
			out[col] = seq
			order = append(order, col)
		}
		return out, order, rows.Err()
	}
	srcSeqs, cols, err := sequences(source, src)
	if err != nil {
		return nil, err
	}
	dstSeqs, _, err := sequences(dest, dst)
	if err != nil {
		return nil, err
	}
	var out []SequenceSync
	for _, col := range cols {
		s := SequenceSync{Column: col}
		var err error
		if s.Source, err = ParseTable(srcSeqs[col]); err != nil {
			return out, err
		}
		var last int64
		var called bool
		if err := source.QueryRow(ctx, `SELECT last_value, is_called FROM `+s.Source.Sanitize()).Scan(&last, &called); err != nil {
			return out, fmt.Errorf("read sequence %s: %w", s.Source, err)
		}
		if called {
			s.SourceValue = last
		}
		seq, ok := dstSeqs[col]
		if !ok {
			out = append(out, s)
			continue
		}
		if s.Dest, err = ParseTable(seq); err != nil {
			return out, err
		}
		err = dest.QueryRow(ctx, `SELECT pg_catalog.setval($1::regclass, v, true) FROM (SELECT GREATEST($2::bigint,
				(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM `+s.Dest.Sanitize()+`),
				(SELECT max(`+QuoteIdent(col)+`)::bigint FROM `+dst.Sanitize()+`)) AS v) x WHERE v >= 1`,
			s.Dest.Sanitize(), s.SourceValue).Scan(&s.Set)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return out, fmt.Errorf("set sequence %s: %w", s.Dest, err)
		}
		out = append(out, s)
	}
	return out, nil
}
