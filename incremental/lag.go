package incremental

import (
	"context"
	"fmt"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

var (
	_ replication.LagReporter = (*Inserter)(nil)
	_ replication.LagReporter = (*Updater)(nil)
)

// LagDetail implements replication.LagReporter: the source rows above the
// job's last control value that its condition keeps (RowsBehind) and, for
// a time control column, how far the source's newest value is ahead of the
// last one pulled (TimeBehind). It reads the source with one query, by the
// control column's index when it has one.
func (r *Inserter) LagDetail(ctx context.Context) (replication.LagDetail, error) {
	return r.j.lagDetail(ctx)
}

// LagDetail is Inserter.LagDetail for an Updater.
func (r *Updater) LagDetail(ctx context.Context) (replication.LagDetail, error) {
	return r.j.lagDetail(ctx)
}

func (j *job) lagDetail(ctx context.Context) (replication.LagDetail, error) {
	var d replication.LagDetail
	l, err := j.load(ctx, j.dest)
	if err != nil {
		return d, err
	}
	row, def, st := l.job, l.def, l.state
	cond, err := replication.NormalizeCondition(row.SourceTable, def.Condition)
	if err != nil {
		return d, err
	}
	ctl := replication.QuoteIdent(def.Control)
	where := cond
	if where == "" {
		where = " WHERE true"
	} else {
		where = " " + where
	}
	isTime := def.Type == Time
	ahead := "NULL::float8"
	if isTime {
		ahead = "extract(epoch FROM max(" + ctl + ")::timestamptz - $1::timestamptz)::float8"
		if st.LastValue == nil {
			ahead = "NULL::float8"
		}
	}
	q := "SELECT count(*), " + ahead + " FROM " + row.SourceTable.Sanitize() + where
	var args []any
	if st.LastValue != nil {
		q += " AND " + ctl + " > $1"
		args = append(args, *st.LastValue)
	}
	var rows int64
	var secs *float64
	if err := j.source.QueryRow(ctx, q, args...).Scan(&rows, &secs); err != nil {
		return d, fmt.Errorf("lag of %s: read source %s: %w", j.dst, row.SourceTable, err)
	}
	d.RowsBehind = &rows
	if isTime {
		behind := time.Duration(0)
		if secs != nil && *secs > 0 {
			behind = time.Duration(*secs * float64(time.Second))
		}
		d.TimeBehind = &behind
	}
	return d, nil
}
