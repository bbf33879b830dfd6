package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RunSettings are the settings of a catalog job that change in place, with
// no rebuild: a worker reads them at every refresh.
type RunSettings struct {
	// Period is how often a worker refreshes the job; 0: only when asked.
	Period time.Duration
	// Enabled is false for a paused job, which workers leave alone.
	Enabled bool
	// BatchLimit caps the rows or changes one refresh moves (0: the kind's
	// default). It is kept in the job's config under "batch_limit", where
	// the kinds that limit batches (incremental, dml, logdel) read it;
	// whole-table kinds ignore it.
	BatchLimit int
	// LockWait is a worker's wait for the destination's lock, as
	// Options.LockWait says; nil: the worker's own setting.
	LockWait *time.Duration
	// Unlogged keeps the job's runs by workers out of their job log.
	Unlogged bool
	// LagWarning and LagCritical are the thresholds of the job's lag (see
	// Job.Lag) for the health handler and the nagios check; 0: derived
	// from the period (see Job.LagThresholds).
	LagWarning  time.Duration
	LagCritical time.Duration
}

// RunSettings returns the job's run settings.
func (j *Job) RunSettings() RunSettings {
	var c struct {
		BatchLimit int `json:"batch_limit"`
	}
	_ = json.Unmarshal(j.Config, &c) // a config without the key, or not an object, has no limit
	return RunSettings{Period: j.Period, Enabled: j.Enabled, BatchLimit: c.BatchLimit, LockWait: j.LockWait, Unlogged: j.Unlogged,
		LagWarning: j.LagWarning, LagCritical: j.LagCritical}
}

// RunSettings are the run settings Options declare for a job.
func (o *Options) RunSettings() RunSettings {
	return RunSettings{Period: o.Period, Enabled: !o.Paused, BatchLimit: o.BatchLimit, LockWait: o.LockWait, Unlogged: o.Unlogged,
		LagWarning: o.LagWarning, LagCritical: o.LagCritical}
}

// NewJob is the catalog row of a new job of kind, replicating source
// table src into dest with the given config and state, and the source
// name and run settings of o. Kinds record their jobs with it.
func (o *Options) NewJob(kind Kind, src, dest Table, config, state json.RawMessage) *Job {
	return &Job{Kind: kind, SourceName: o.Source(), SourceTable: src, Dest: dest, Config: config, State: state,
		Period: o.Period, LockWait: o.LockWait, Unlogged: o.Unlogged, paused: o.Paused,
		LagWarning: o.LagWarning, LagCritical: o.LagCritical}
}

// Changes names the settings that differ from s in want, in a fixed
// order: "period", "enabled", "batch_limit", "lock_wait", "unlogged",
// "lag_warning", "lag_critical".
func (s RunSettings) Changes(want RunSettings) []string {
	var out []string
	if s.Period != want.Period {
		out = append(out, "period")
	}
	if s.Enabled != want.Enabled {
		out = append(out, "enabled")
	}
	if s.BatchLimit != want.BatchLimit {
		out = append(out, "batch_limit")
	}
	if (s.LockWait == nil) != (want.LockWait == nil) || (s.LockWait != nil && *s.LockWait != *want.LockWait) {
		out = append(out, "lock_wait")
	}
	if s.Unlogged != want.Unlogged {
		out = append(out, "unlogged")
	}
	if s.LagWarning != want.LagWarning {
		out = append(out, "lag_warning")
	}
	if s.LagCritical != want.LagCritical {
		out = append(out, "lag_critical")
	}
	return out
}

// SetRunSettings changes the run settings of the job of destination table
// dest in place, in one statement; a refresh running meanwhile keeps the
// settings it started with. No job is a *TableError wrapping
// ErrNotManaged.
func (c *Catalog) SetRunSettings(ctx context.Context, db DB, dest Table, s RunSettings) error {
	if s.Period < 0 || s.BatchLimit < 0 || s.LagWarning < 0 || s.LagCritical < 0 {
		return &OptionError{Field: "RunSettings", Problem: "period, batch limit and lag thresholds must not be negative"}
	}
	var period *string
	if s.Period > 0 {
		period = intervalText(&s.Period)
	}
	tag, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET period = $3::interval, enabled = $4,
		config = CASE WHEN $5::int = 0 THEN config - 'batch_limit' ELSE jsonb_set(config, '{batch_limit}', to_jsonb($5::int)) END,
		lock_wait = $6::interval, job_log = $7, lag_warning = $8::interval, lag_critical = $9::interval
		WHERE dest_schema = $1 AND dest_table = $2`,
		dest.Schema, dest.Name, period, s.Enabled, s.BatchLimit, intervalText(s.LockWait), !s.Unlogged,
		positiveInterval(s.LagWarning), positiveInterval(s.LagCritical))
	if err != nil {
		return fmt.Errorf("set run settings of %s: %w", dest, err)
	}
	if tag.RowsAffected() == 0 {
		return &TableError{Table: dest, Err: ErrNotManaged, Fix: "set the job up first (Setup or Ensure)"}
	}
	return nil
}

// SetEnabled pauses (false) or resumes (true) the job of destination
// table dest: workers leave a paused job alone. A refresh asked for by
// hand still runs. No job is a *TableError wrapping ErrNotManaged.
func (c *Catalog) SetEnabled(ctx context.Context, db DB, dest Table, enabled bool) error {
	tag, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET enabled = $3 WHERE dest_schema = $1 AND dest_table = $2`,
		dest.Schema, dest.Name, enabled)
	if err != nil {
		return fmt.Errorf("set enabled of %s: %w", dest, err)
	}
	if tag.RowsAffected() == 0 {
		return &TableError{Table: dest, Err: ErrNotManaged, Fix: "set the job up first (Setup or Ensure)"}
	}
	return nil
}
