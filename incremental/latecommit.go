package incremental

import (
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

// latePred returns an SQL predicate, for rows of the source table, that is
// true when the transaction that wrote the row (its xmin) was not visible in
// snapshot prev: it was still in progress then, or began later. The 32-bit
// xmin is widened to a full transaction id in the epoch that puts it below
// curXmax, the xmax of the snapshot the query runs in (every committed row's
// transaction is below it).
func latePred(prev string, curXmax int64) string {
	const lap = int64(1) << 32
	base, low := curXmax&^(lap-1), curXmax&(lap-1)
	x := "xmin::text::bigint"
	snap := sqltext.Literal(prev) + "::pg_snapshot"
	if base == 0 {
		// First epoch: no earlier lap to fall back to.
		return fmt.Sprintf("(%[1]s < %[2]d AND NOT pg_visible_in_snapshot(%[1]s::text::xid8, %[3]s))", x, low, snap)
	}
	return fmt.Sprintf("NOT pg_visible_in_snapshot((CASE WHEN %[1]s < %[2]d THEN %[1]s + %[3]d ELSE %[1]s + %[4]d END)::text::xid8, %[5]s)",
		x, low, base, base-lap, snap)
}

// window returns the predicates of the late-commit look-back: control values
// in (last - look-back, last] whose rows were written by transactions not
// visible in the previous refresh's snapshot.
func (j *job) window(p *plan, last, prevSnap string, curXmax int64) []string {
	n := j.cfg.SerialLookBack
	if p.ctl.typ == Time {
		n = j.cfg.LookBack.Microseconds()
	}
	return []string{
		p.ctl.ident() + " > " + p.ctl.minus(last, n),
		p.ctl.ident() + " <= " + p.ctl.lit(last),
		latePred(prevSnap, curXmax),
	}
}
