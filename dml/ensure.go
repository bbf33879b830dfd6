package dml

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/jobconfig"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Ensure makes the job exist as this Replicator's configuration declares
// it (see replication.Ensure): Setup when it does not exist; in place,
// the run settings (period, paused, batch limit, lock wait, unlogged),
// FetchFirst and Logical.Spool; a *replication.RebuildError for the rest (capture, queue
// schema, key, column filter, condition, index replication, slot name, and
// KeepDeleted, which is the kind). An unchanged job is left untouched and
// no job is logged, so a service can call Ensure at every start.
func (r *Replicator) Ensure(ctx context.Context) (replication.Ensured, error) {
	return replication.Ensure(ctx, r.dest, r.declaration())
}

// Plan says what Ensure would do, changing nothing (see replication.Plan).
func (r *Replicator) Plan(ctx context.Context) (replication.Ensured, error) {
	return replication.Plan(ctx, r.dest, r.declaration())
}

func (r *Replicator) declaration() *replication.Declaration {
	return &replication.Declaration{
		Kind: r.variant.Kind(), Source: r.table, Dest: r.Dest(), Options: &r.cfg.Options,
		Setup: r.Setup, Reconcile: r.reconcile,
	}
}

// reconcile compares the stored job config with r's configuration.
func (r *Replicator) reconcile(stored json.RawMessage) (json.RawMessage, []string, error) {
	var jc jobConfig
	if err := json.Unmarshal(stored, &jc); err != nil {
		return nil, nil, fmt.Errorf("job of %s: decode config: %w", r.Dest(), err)
	}
	rebuild := func(setting, have, want string) error {
		return &replication.RebuildError{Table: r.Dest(), Setting: setting, Have: have, Want: want}
	}
	cond := func(c string) string {
		if c == "" {
			return "no condition"
		}
		return fmt.Sprintf("%q", c)
	}
	switch {
	case jc.Capture != r.cfg.Capture:
		return nil, nil, rebuild("capture", jc.Capture.String(), r.cfg.Capture.String())
	case jc.Capture == CaptureTrigger && jc.QueueSchema != r.cfg.queueSchema():
		return nil, nil, rebuild("queue schema", jc.QueueSchema, r.cfg.queueSchema())
	case len(r.cfg.Key) > 0 && !slices.Equal(jc.Key, r.cfg.Key):
		return nil, nil, rebuild("key", jobconfig.Columns(jc.Key), jobconfig.Columns(r.cfg.Key))
	case !slices.Equal(jc.Filter, r.cfg.Columns):
		return nil, nil, rebuild("column filter", jobconfig.Columns(jc.Filter), jobconfig.Columns(r.cfg.Columns))
	case strings.TrimSpace(jc.Condition) != strings.TrimSpace(r.cfg.Condition):
		return nil, nil, rebuild("condition", cond(jc.Condition), cond(r.cfg.Condition))
	case jc.SkipIndexes != r.cfg.SkipIndexes:
		return nil, nil, rebuild("index replication (SkipIndexes)", fmt.Sprint(jc.SkipIndexes), fmt.Sprint(r.cfg.SkipIndexes))
	case jc.Capture == CaptureLogical && r.cfg.Logical.Slot != "" && jc.Slot != r.cfg.Logical.Slot:
		return nil, nil, rebuild("slot", jc.Slot, r.cfg.Logical.Slot)
	}
	return jobconfig.Patch(stored, jobConfig{FetchFirst: r.cfg.FetchFirst, Spool: r.cfg.Logical.Spool}, "fetch_first", "spool")
}
