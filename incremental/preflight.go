package incremental

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// prerequisite is what a job of kind k needs of the source: the one list
// Setup checks and Method declares for check.Preflight.
func prerequisite(k replication.Kind) replication.Prerequisite {
	reqs := []replication.Requirement{replication.ReqSchemaUsage, replication.ReqSelect}
	if k == replication.KindUpdaterTime || k == replication.KindUpdaterSerial {
		reqs = append(reqs, replication.ReqKey)
	}
	if k == replication.KindInserterTime || k == replication.KindUpdaterTime {
		reqs = append(reqs, replication.ReqTimeControl)
	} else {
		reqs = append(reqs, replication.ReqSerialControl)
	}
	return replication.Prerequisite{Kind: k, Requires: reqs}
}

// preflight fails setup early, before anything is created, when the
// source lacks a prerequisite of the job's kind (the role's USAGE on the
// table's schema and SELECT on the replicated columns, the planned key and
// control column): the error names the table and the statement that
// provides it (see check.Preflight).
func (j *job) preflight(ctx context.Context, p *plan) error {
	rep, err := check.Preflight(ctx, j.source, j.src, &check.PreflightConfig{Columns: j.cfg.Columns, Control: p.ctl.col.Name, Key: p.key})
	if err != nil {
		return err
	}
	return rep.RequireOf(prerequisite(j.kind(p.ctl.typ)))
}
