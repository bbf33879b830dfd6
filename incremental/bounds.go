package incremental

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// span is a range of control values: above lower (when set), and up to
// upper, inclusive or, when cut by a batch limit, exclusive.
type span struct {
	lower     *string
	upper     string
	exclusive bool
}

// preds returns the span as SQL predicates on the control column.
func (s span) preds(c control) []string {
	var out []string
	if s.lower != nil {
		out = append(out, c.ident()+" > "+c.lit(*s.lower))
	}
	op := " <= "
	if s.exclusive {
		op = " < "
	}
	return append(out, c.ident()+op+c.lit(s.upper))
}

// String describes the span for logs.
func (s span) String() string {
	lo, hi := "(start", "]"
	if s.lower != nil {
		lo = "(" + *s.lower
	}
	if s.exclusive {
		hi = ")"
	}
	return lo + ", " + s.upper + hi
}

// limit applies a batch limit to sp: when more than limit rows fall in it,
// it is cut before the control value of the first row past the limit, so
// that rows sharing a value are never split. more reports a cut. When the
// rows before that value are none (one value alone has more rows than the
// limit), the error wraps ErrBatchLimit.
func (j *job) limit(ctx context.Context, s *sourceRead, p *plan, sp span, limit int) (out span, more bool, err error) {
	if limit <= 0 {
		return sp, false, nil
	}
	q := "SELECT " + p.ctl.render(p.ctl.ident()) + " FROM " + p.info.Table.Sanitize() + p.where(sp.preds(p.ctl)...) +
		" ORDER BY " + p.info.Table.Sanitize() + "." + p.ctl.ident() + " OFFSET $1 LIMIT 1"
	var cut string
	err = s.tx.QueryRow(ctx, q, limit).Scan(&cut)
	if errors.Is(err, pgx.ErrNoRows) {
		return sp, false, nil
	}
	if err != nil {
		return sp, false, fmt.Errorf("apply batch limit on source %s: %w", j.src, err)
	}
	out = span{lower: sp.lower, upper: cut, exclusive: true}
	var any bool
	q = "SELECT EXISTS (SELECT 1 FROM " + p.info.Table.Sanitize() + p.where(out.preds(p.ctl)...) + ")"
	if err := s.tx.QueryRow(ctx, q).Scan(&any); err != nil {
		return sp, false, fmt.Errorf("apply batch limit on source %s: %w", j.src, err)
	}
	if !any {
		return sp, false, &replication.TableError{Table: j.src, Err: ErrBatchLimit,
			Fix: fmt.Sprintf("more than %d rows have control value %s: raise Options.BatchLimit above their number (or set it to 0)", limit, cut)}
	}
	return out, true, nil
}
