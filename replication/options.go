package replication

import (
	"fmt"
	"log/slog"

	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

// DefaultCatalogSchema is the destination schema of the job catalog.
const DefaultCatalogSchema = "mimeo"

// DefaultDDLLockTimeout is the lock_timeout of statements that lock a live
// table when Options.DDLLockTimeout is zero.
const DefaultDDLLockTimeout = 2 * time.Second

// DefaultDDLRetries is how often such a statement is tried again after a
// lock timeout when Options.DDLRetries is zero.
const DefaultDDLRetries = 10

// DefaultSourceName is the catalog name of the source when none is given.
const DefaultSourceName = "default"

// Options are the settings every kind of replication job shares. The zero
// value replicates every column of every row into a destination table of the
// same schema and name, replicates indexes, pulls data at setup, does not wait
// for a busy lock, and logs nothing.
type Options struct {
	// Columns is the column filter: when not empty, only these source columns
	// are replicated (in the source's column order). Key and control columns
	// cannot be left out. Default: every column.
	Columns []string

	// Condition restricts the rows replicated, in mimeo's form: SQL text
	// appended to "SELECT … FROM source", starting with WHERE, or (where the
	// kind allows joins) with a comma naming further source tables, as in
	// ", other_table o WHERE o.id = source_col". Text starting with neither is
	// taken as the expression after WHERE. It is trusted operator input and is
	// checked against the source at setup. Default: every row.
	Condition string

	// Dest is the destination table. Default: the source's schema and name.
	Dest Table

	// SkipIndexes turns off index replication. Default false: the source's
	// indexes (primary key, unique and others) are made on the destination.
	SkipIndexes bool

	// SkipPull makes setup create the destination without copying rows; the
	// first refresh copies them. Default false: setup pulls the data.
	SkipPull bool

	// BatchLimit caps the rows (or queued changes) one refresh moves.
	// Default 0: the kind's default (no limit for full pulls).
	BatchLimit int

	// AdoptDest lets Setup take a destination table that already exists
	// instead of refusing it (ErrExists): it must have the replicated
	// columns (and whatever the kind adds, such as logdel's
	// mimeo_source_deleted). What happens to its rows is the kind's to say
	// (see each kind's Setup). Default false.
	AdoptDest bool

	// DurableCommit makes the destination transactions of pull-only jobs
	// (snapshot, table, incremental) wait for their WAL flush. Default
	// false: they commit with synchronous_commit=off, which is safe because
	// their whole state lives in the same transaction as the rows: a crash
	// loses at most the last refresh, which the next one repeats. DML and
	// LogDeletes jobs always commit durably, whatever this says: their
	// commits let the source drop its queue.
	DurableCommit bool

	// DDLLockTimeout bounds each attempt to take a lock on a live table
	// (the source table or a queue table for DML and LogDeletes; the
	// destination for snapshot, table and incremental jobs), so that a long
	// reader never queues every other session behind pgmimeo. A statement
	// that times out is retried. Default 0: DefaultDDLLockTimeout (2s).
	DDLLockTimeout time.Duration

	// DDLRetries is how many more attempts follow one that timed out
	// (SQLSTATE 55P03), with a growing pause between them. Default 0:
	// DefaultDDLRetries (10); negative: no retry.
	DDLRetries int

	// LockWait is how long a refresh waits for another refresh of the same
	// destination table: nil does not wait (ErrLocked at once), a positive
	// duration waits that long, zero or negative waits for ever. Use Wait.
	LockWait *time.Duration

	// JobLog receives a job per setup, refresh and destroy (jobmon.Logger
	// satisfies it). Default nil: no job logging.
	JobLog JobLog

	// Logger receives progress and warnings. Default nil: silent.
	Logger *slog.Logger

	// MeterProvider receives the metrics of every run (duration, rows,
	// bytes, failures, skips: see MetricRunDuration). Default nil: none.
	MeterProvider metric.MeterProvider

	// TracerProvider receives a span per run ("pgmimeo.refresh", …) with a
	// child span per step, the steps the job log records. Default nil: none.
	TracerProvider trace.TracerProvider

	// Catalog is the destination schema of the job catalog. Default "mimeo".
	Catalog string

	// SourceName is the name under which the source is recorded in the
	// catalog, for workers that reopen jobs. Default "default".
	SourceName string

	// Period is how often a scheduled worker should refresh the job.
	// Default 0: the job is refreshed only when asked.
	Period time.Duration

	// Paused records the job disabled: workers leave it alone until it is
	// resumed (Catalog.SetEnabled). Default false.
	Paused bool

	// Unlogged keeps the job's runs by workers out of their job log.
	// Default false: a worker with a JobLog logs them.
	Unlogged bool

	// LagWarning and LagCritical are the thresholds of the job's lag (how
	// old the destination's data may be, see Job.Lag) at which the health
	// handler and the nagios check report it late. Default 0: derived from
	// Period (see Job.LagThresholds); a job without a period has none.
	LagWarning  time.Duration
	LagCritical time.Duration
}

// Wait returns a LockWait value: d > 0 waits d, d <= 0 waits for ever.
func Wait(d time.Duration) *time.Duration { return &d }

// CatalogSchema returns Catalog or its default.
func (o *Options) CatalogSchema() string {
	if o == nil || o.Catalog == "" {
		return DefaultCatalogSchema
	}
	return o.Catalog
}

// Source returns SourceName or its default.
func (o *Options) Source() string {
	if o == nil || o.SourceName == "" {
		return DefaultSourceName
	}
	return o.SourceName
}

// DestFor returns the destination table for source table src.
func (o *Options) DestFor(src Table) Table {
	if o == nil || o.Dest.IsZero() {
		return src
	}
	d := o.Dest
	if d.Schema == "" {
		d.Schema = src.Schema
	}
	return d
}

// Validate checks the options that do not need a database.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	if o.BatchLimit < 0 {
		return &OptionError{Field: "Options.BatchLimit", Problem: "must be 0 (no limit) or positive"}
	}
	if o.LagWarning < 0 || o.LagCritical < 0 {
		return &OptionError{Field: "Options.LagWarning", Problem: "lag thresholds must be 0 (derived from the period) or positive"}
	}
	if o.Period < 0 {
		return &OptionError{Field: "Options.Period", Problem: "must be 0 (not scheduled) or positive"}
	}
	if o.DDLLockTimeout < 0 {
		return &OptionError{Field: "Options.DDLLockTimeout", Problem: "must be 0 (the default, 2s) or positive"}
	}
	if err := sqltext.CheckCondition(o.Condition); err != nil {
		return &OptionError{Field: "Options.Condition", Problem: err.Error() + "; give one boolean expression, without ';' or '--' comments",
			Err: ErrBadCondition}
	}
	if !o.Dest.IsZero() && o.Dest.Name == "" {
		return &OptionError{Field: "Options.Dest", Problem: "has a schema but no name"}
	}
	if !o.Dest.IsZero() {
		d := o.Dest
		if d.Schema == "" {
			d.Schema = "x"
		}
		if err := d.Validate(); err != nil {
			return &OptionError{Field: "Options.Dest", Problem: err.Error()}
		}
	}
	return nil
}

// NormalizeCondition turns a row condition of table t into text to append
// after "FROM t": empty stays empty, "WHERE …" and ", …" are kept, and a
// bare expression gets "WHERE" in front.
//
// A condition is one piece of SQL from the operator, never statements: a
// condition that could end the statement it is placed in or reach past
// its own end (a ';', unbalanced parentheses, an unclosed literal or
// comment, a '--' comment, a backslash outside E'…') is refused with a
// *TableError wrapping ErrBadCondition, before any of it reaches a server.
// Every kind turns its conditions into SQL through this function only.
func NormalizeCondition(t Table, c string) (string, error) {
	if err := sqltext.CheckCondition(c); err != nil {
		return "", &TableError{Table: t, Err: fmt.Errorf("%w: %w", ErrBadCondition, err),
			Fix: "give the row condition as one boolean expression (optionally after WHERE, or after a comma naming further tables), without ';' or '--' comments"}
	}
	c = strings.TrimSpace(c)
	if c == "" {
		return "", nil
	}
	if strings.HasPrefix(c, ",") || len(c) >= 6 && strings.EqualFold(c[:5], "where") &&
		(c[5] == ' ' || c[5] == '\t' || c[5] == '\n' || c[5] == '(') {
		return " " + c, nil
	}
	return " WHERE " + c, nil
}

// HasJoin reports whether the condition joins further tables (", other …").
func (o *Options) HasJoin() bool {
	return o != nil && strings.HasPrefix(strings.TrimSpace(o.Condition), ",")
}

// DDLLock returns the lock_timeout and the retries of statements that lock
// a live table, with the defaults applied.
func (o *Options) DDLLock() (timeout time.Duration, retries int) {
	timeout, retries = DefaultDDLLockTimeout, DefaultDDLRetries
	if o != nil && o.DDLLockTimeout > 0 {
		timeout = o.DDLLockTimeout
	}
	switch {
	case o != nil && o.DDLRetries < 0:
		retries = 0
	case o != nil && o.DDLRetries > 0:
		retries = o.DDLRetries
	}
	return timeout, retries
}
