package incremental

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgerrcode"

	"github.com/pgmimeo/pgmimeo/internal/jobconfig"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Ensure makes the job exist as this Inserter's configuration declares it
// (see replication.Ensure): Setup when it does not exist; in place, the
// run settings (period, paused, batch limit, lock wait, unlogged) and the
// boundary, look-back, late-commit, DST, long-transaction and durable
// commit settings; a *replication.RebuildError for the control column and
// type, the column filter and the condition. An unchanged job is left
// untouched and no job is logged, so a service can call Ensure at every
// start.
func (r *Inserter) Ensure(ctx context.Context) (replication.Ensured, error) { return r.j.ensure(ctx) }

// Ensure makes the job exist as this Updater's configuration declares it,
// as Inserter.Ensure does; a declared Config.Key other than the job's
// also needs a rebuild.
func (r *Updater) Ensure(ctx context.Context) (replication.Ensured, error) { return r.j.ensure(ctx) }

// Plan says what Ensure would do, changing nothing (see replication.Plan).
func (r *Inserter) Plan(ctx context.Context) (replication.Ensured, error) { return r.j.plan(ctx) }

// Plan says what Ensure would do, changing nothing (see replication.Plan).
func (r *Updater) Plan(ctx context.Context) (replication.Ensured, error) { return r.j.plan(ctx) }

func (j *job) ensure(ctx context.Context) (replication.Ensured, error) {
	d, err := j.declaration(ctx)
	if err != nil {
		return replication.Ensured{}, err
	}
	return replication.Ensure(ctx, j.dest, d)
}

func (j *job) plan(ctx context.Context) (replication.Ensured, error) {
	d, err := j.declaration(ctx)
	if err != nil {
		return replication.Ensured{}, err
	}
	return replication.Plan(ctx, j.dest, d)
}

// declaration is the job as j's configuration declares it.
func (j *job) declaration(ctx context.Context) (*replication.Declaration, error) {
	// The kind follows from the control column's type, which setup finds
	// when Config.Type is empty: take the stored job's then.
	kind := j.kind(j.cfg.Type)
	if j.cfg.Type == "" {
		kind = j.kind(Time)
		job, err := j.catalog.Job(ctx, j.dest, j.dst)
		// A catalog not made yet (SQLSTATE 42P01) holds no job either.
		if err != nil && !errors.Is(err, replication.ErrNotManaged) && sqltext.SQLState(err) != pgerrcode.UndefinedTable {
			return nil, err
		}
		if err == nil && job.Kind.Incremental() && j.kind(Serial) == job.Kind {
			kind = job.Kind
		}
	}
	return &replication.Declaration{
		Kind: kind, Source: j.src, Dest: j.dst, Options: &j.cfg.Options, Setup: j.setup, Reconcile: j.reconcile,
	}, nil
}

// reconcile refuses a declared identity other than the stored one and
// patches the settings that change in place.
func (j *job) reconcile(stored json.RawMessage) (json.RawMessage, []string, error) {
	var def definition
	if err := json.Unmarshal(stored, &def); err != nil {
		return nil, nil, fmt.Errorf("job of %s: decode config: %w", j.dst, err)
	}
	rebuild := func(setting, have, want string) error {
		return &replication.RebuildError{Table: j.dst, Setting: setting, Have: have, Want: want}
	}
	c := &j.cfg
	switch {
	case c.Control != def.Control:
		return nil, nil, rebuild("control column", def.Control, c.Control)
	case c.Type != "" && c.Type != def.Type:
		return nil, nil, rebuild("control type", string(def.Type), string(c.Type))
	case !slices.Equal(c.Columns, def.Filter):
		return nil, nil, rebuild("column filter", jobconfig.Columns(def.Filter), jobconfig.Columns(c.Columns))
	case strings.TrimSpace(c.Condition) != def.Condition:
		return nil, nil, rebuild("condition", fmt.Sprintf("%q", def.Condition), fmt.Sprintf("%q", strings.TrimSpace(c.Condition)))
	case len(c.Key) > 0 && !slices.Equal(c.Key, def.Key):
		return nil, nil, rebuild("key", jobconfig.Columns(def.Key), jobconfig.Columns(c.Key))
	}
	want := definition{LateCommit: c.LateCommit, DSTStartMin: int(c.DSTStart.Minutes()), DSTEndMin: int(c.DSTEnd.Minutes()),
		IgnoreDST: c.IgnoreDST, LongTxnMicros: c.LongTransaction.Microseconds(), DurableCommit: c.DurableCommit}
	if def.Type == Time {
		want.Boundary, want.LookBack = c.Boundary.Microseconds(), c.LookBack.Microseconds()
	} else {
		want.Boundary, want.LookBack = *c.SerialBoundary, c.SerialLookBack
	}
	return jobconfig.Patch(stored, want, "boundary", "look_back", "late_commit", "dst_start_minutes", "dst_end_minutes",
		"ignore_dst", "long_transaction_us", "durable_commit")
}
