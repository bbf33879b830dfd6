package incremental

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// preflight fails setup early, before anything is created, when the
// source role lacks USAGE on the table's schema or SELECT on the
// replicated columns: the error names the table and the GRANT that
// provides it (see check.Preflight). It asks for what an Inserter
// with this control column needs, also for an Updater, whose key resolve
// has checked already (it may come from Config.Key, which Preflight does
// not know).
func (j *job) preflight(ctx context.Context, p *plan) error {
	rep, err := check.Preflight(ctx, j.source, j.src, &check.PreflightConfig{Columns: j.cfg.Columns, Control: p.ctl.col.Name})
	if err != nil {
		return err
	}
	kind := replication.KindInserterSerial
	if p.ctl.typ == Time {
		kind = replication.KindInserterTime
	}
	return rep.Require(kind, false)
}
