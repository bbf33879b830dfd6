package incremental

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// lockedRun runs body as one run of the job (replication.Run: the
// destination's lock, the job log named name, failure counting, the event).
func (j *job) lockedRun(ctx context.Context, op replication.Op, name string, body replication.Body) (replication.Result, error) {
	return replication.Run{Op: op, Kind: j.kind(j.cfg.Type), Dest: j.dst, Name: name, Pool: j.dest, Catalog: j.catalog,
		Options: &j.cfg.Options}.Do(ctx, body)
}

// loaded is the catalog row of a job, decoded.
type loaded struct {
	job   *replication.Job
	def   definition
	state state
}

// load reads the job of the destination table and checks that it is one of
// this kind, and (for a Config given to New) that its identity matches.
func (j *job) load(ctx context.Context, db replication.DB) (*loaded, error) {
	jb, err := j.catalog.Job(ctx, db, j.dst)
	if err != nil {
		return nil, err
	}
	l := &loaded{job: jb}
	if err := json.Unmarshal(jb.Config, &l.def); err != nil {
		return nil, fmt.Errorf("decode job config of %s: %w", j.dst, err)
	}
	if jb.Kind != j.kind(l.def.Type) || l.def.Updater != j.updater {
		return nil, &replication.TableError{Table: j.dst, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("the job is of kind %s: use the matching replicator", jb.Kind)}
	}
	if jb.SourceTable != j.src {
		return nil, &replication.TableError{Table: j.dst, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("the job replicates from %s, not %s", jb.SourceTable, j.src)}
	}
	if j.given {
		if err := identityMismatch(&j.cfg, &l.def); err != nil {
			return nil, err
		}
	}
	if l.state, err = decodeState(jb.State); err != nil {
		return nil, err
	}
	return l, nil
}
