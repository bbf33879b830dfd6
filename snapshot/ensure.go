package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/jobconfig"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Ensure makes the job exist as this Snapshot's configuration declares it
// (see replication.Ensure): Setup when it does not exist; in place, the
// run settings (period, paused, lock wait, unlogged), SkipUnchanged and
// PostScripts; a *replication.RebuildError for the column filter, the
// condition and index replication. An unchanged job is left untouched and
// no job is logged, so a service can call Ensure at every start.
func (s *Snapshot) Ensure(ctx context.Context) (replication.Ensured, error) {
	return replication.Ensure(ctx, s.dest, s.declaration())
}

// Plan says what Ensure would do, changing nothing (see replication.Plan).
func (s *Snapshot) Plan(ctx context.Context) (replication.Ensured, error) {
	return replication.Plan(ctx, s.dest, s.declaration())
}

func (s *Snapshot) declaration() *replication.Declaration {
	declared := s.jobOptions()
	return &replication.Declaration{
		Kind: replication.KindSnapshot, Source: s.src, Dest: s.dst, Options: &s.cfg.Options, Setup: s.Setup,
		Reconcile: func(stored json.RawMessage) (json.RawMessage, []string, error) {
			return reconcile(s.dst, stored, declared, "skip_unchanged", "post_scripts")
		},
	}
}

// Ensure makes the job exist as this Table's configuration declares it
// (see replication.Ensure): Setup when it does not exist; in place, the
// run settings (period, paused, lock wait, unlogged), TruncateCascade and
// Sequences; a *replication.RebuildError for the column filter, the
// condition and index replication. An unchanged job is left untouched and
// no job is logged.
func (t *Table) Ensure(ctx context.Context) (replication.Ensured, error) {
	return replication.Ensure(ctx, t.dest, t.declaration())
}

// Plan says what Ensure would do, changing nothing (see replication.Plan).
func (t *Table) Plan(ctx context.Context) (replication.Ensured, error) {
	return replication.Plan(ctx, t.dest, t.declaration())
}

func (t *Table) declaration() *replication.Declaration {
	declared := t.jobOptions()
	return &replication.Declaration{
		Kind: replication.KindTableReload, Source: t.src, Dest: t.dst, Options: &t.cfg.Options, Setup: t.Setup,
		Reconcile: func(stored json.RawMessage) (json.RawMessage, []string, error) {
			return reconcile(t.dst, stored, declared, "truncate_cascade", "sequences")
		},
	}
}

// reconcile refuses a declared column filter, condition or index
// replication other than the stored one (the destination's shape and
// rows follow from them), and patches the keys that change in place.
func reconcile(dest replication.Table, stored json.RawMessage, declared jobOptions, inPlace ...string) (json.RawMessage, []string, error) {
	var have jobOptions
	if err := json.Unmarshal(stored, &have); err != nil {
		return nil, nil, fmt.Errorf("job of %s: decode config: %w", dest, err)
	}
	rebuild := func(setting, have, want string) error {
		return &replication.RebuildError{Table: dest, Setting: setting, Have: have, Want: want}
	}
	switch {
	case !slices.Equal(have.Columns, declared.Columns):
		return nil, nil, rebuild("column filter", jobconfig.Columns(have.Columns), jobconfig.Columns(declared.Columns))
	case strings.TrimSpace(have.Condition) != strings.TrimSpace(declared.Condition):
		return nil, nil, rebuild("condition", fmt.Sprintf("%q", have.Condition), fmt.Sprintf("%q", declared.Condition))
	case have.SkipIndexes != declared.SkipIndexes:
		return nil, nil, rebuild("index replication (SkipIndexes)", fmt.Sprint(have.SkipIndexes), fmt.Sprint(declared.SkipIndexes))
	}
	return jobconfig.Patch(stored, declared, inPlace...)
}
