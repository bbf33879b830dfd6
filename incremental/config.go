package incremental

import (
	"slices"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// ControlType says how the control column advances.
type ControlType string

// The control types.
const (
	// Time is a timestamp or timestamptz column set to the time of the
	// insert (Inserter) or of the insert and every update (Updater).
	Time ControlType = "time"
	// Serial is a smallint, integer or bigint column that only grows: set
	// from a sequence on insert (Inserter), or on insert and every update
	// (Updater).
	Serial ControlType = "serial"
)

// Defaults of the Config fields.
const (
	DefaultBoundary             = 10 * time.Minute
	DefaultSerialBoundary int64 = 10
	DefaultLookBack             = time.Hour
	DefaultSerialLookBack int64 = 10000
	DefaultDSTStart             = 30 * time.Minute
	DefaultDSTEnd               = 150 * time.Minute
	DefaultSerialLongTxn        = 10 * time.Minute
)

// Config configures an Inserter or an Updater. A nil Config is not enough:
// Control is required. Every other field has a working default.
//
// The job's identity (Control, Type, Options.Columns, Options.Condition and
// Key) is stored in the catalog at Setup; a later Refresh with a Config whose
// identity differs fails with an *replication.OptionError rather than mixing
// two jobs' progress. The other fields are read from the Config in use at
// each call, so they may be tuned between runs.
type Config struct {
	// Options are the settings every kind of job shares. BatchLimit caps the
	// rows one Refresh pulls (default 0: no limit) and never splits rows
	// that share a control value. Condition may not join other tables.
	replication.Options

	// Control is the control column's name, as written in the catalog
	// (case-sensitive, unquoted). Required.
	Control string

	// Type is Time or Serial. Default "": taken from the control column's
	// type (timestamp types are Time, integer types Serial).
	Type ControlType

	// Boundary keeps each pull of a Time job this far behind the source's
	// clock, so that rows of transactions still open (whose control value
	// is their start time or earlier) are not skipped. Default nil: 10
	// minutes. A pointer so that 0 can be asked for: new(time.Duration(0)).
	Boundary *time.Duration

	// SerialBoundary keeps each pull of a Serial job this many values
	// behind the source's maximum. Default nil: 10. Zero is safe only for a
	// column fed by a sequence in transactions shorter than the time
	// between refreshes, or with LateCommit.
	SerialBoundary *int64

	// Key names the Updater's key columns, for a view (which has no key) or
	// to choose another unique key than the detected one. Their types are
	// those of the source's columns. Default: the source's primary key, else
	// its first unique index on NOT NULL columns. The Inserter uses no key.
	Key []string

	// LateCommit turns on late-commit safety: each refresh records the
	// source's transaction snapshot, and the next refresh also re-reads the
	// rows in a look-back window of control values below the last value
	// whose writing transaction had not committed at that snapshot. With it
	// a boundary of 0 loses nothing that commits late within the window.
	// It needs an index on the control column and a table source (it reads
	// xmin). Default false. See the package documentation.
	LateCommit bool

	// LookBack is the look-back window of a Time job in late-commit mode.
	// Default 0: one hour.
	LookBack time.Duration

	// SerialLookBack is the look-back window of a Serial job in late-commit
	// mode, in control values. Default 0: 10000.
	SerialLookBack int64

	// LongTransaction is the age above which a writing source transaction
	// open during a refresh is reported as a warning (and logged to the job
	// log as WARNING, level 2). Default 0: the boundary of a Time job (the
	// boundary plus the look-back window in late-commit mode), 10 minutes
	// for a Serial job.
	LongTransaction time.Duration

	// DSTStart and DSTEnd bound the local time of day, on the source's days
	// of a daylight-saving change, in which Time jobs do not run. Defaults
	// 0: 00:30 and 02:30. Sources in a zone without daylight saving (UTC)
	// are never paused.
	DSTStart time.Duration
	DSTEnd   time.Duration

	// IgnoreDST runs Time jobs through daylight-saving changes. Default
	// false.
	IgnoreDST bool

	// Now is the clock of the daylight-saving check. Default nil: time.Now.
	// (Bounds are computed from the source's own clock.)
	Now func() time.Time
}

// withDefaults returns a copy of cfg (nil allowed) with defaults filled in.
func withDefaults(cfg *Config) Config {
	var c Config
	if cfg != nil {
		c = *cfg
		c.Columns = slices.Clone(cfg.Columns)
		c.Key = slices.Clone(cfg.Key)
	}
	if c.Boundary == nil {
		d := DefaultBoundary
		c.Boundary = &d
	}
	if c.SerialBoundary == nil {
		n := DefaultSerialBoundary
		c.SerialBoundary = &n
	}
	if c.LookBack == 0 {
		c.LookBack = DefaultLookBack
	}
	if c.SerialLookBack == 0 {
		c.SerialLookBack = DefaultSerialLookBack
	}
	if c.DSTStart == 0 && c.DSTEnd == 0 {
		c.DSTStart, c.DSTEnd = DefaultDSTStart, DefaultDSTEnd
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks what can be checked without a database and names the
// field at fault.
func (c *Config) validate(updater bool) error {
	if err := c.Options.Validate(); err != nil {
		return err
	}
	bad := func(field, problem string) error {
		return &replication.OptionError{Field: field, Problem: problem}
	}
	switch {
	case c.Control == "":
		return bad("Config.Control", "is required: name the control column")
	case c.Type != "" && c.Type != Time && c.Type != Serial:
		return bad("Config.Type", `must be "", "time" or "serial"`)
	case *c.Boundary < 0:
		return bad("Config.Boundary", "must not be negative")
	case *c.SerialBoundary < 0:
		return bad("Config.SerialBoundary", "must not be negative")
	case c.LookBack < 0:
		return bad("Config.LookBack", "must not be negative")
	case c.SerialLookBack < 0:
		return bad("Config.SerialLookBack", "must not be negative")
	case c.LongTransaction < 0:
		return bad("Config.LongTransaction", "must not be negative")
	case c.DSTStart < 0 || c.DSTStart > 24*time.Hour:
		return bad("Config.DSTStart", "must be a time of day between 0 and 24h")
	case c.DSTEnd < 0 || c.DSTEnd > 24*time.Hour:
		return bad("Config.DSTEnd", "must be a time of day between 0 and 24h")
	case c.DSTEnd < c.DSTStart:
		return bad("Config.DSTEnd", "must not be before Config.DSTStart")
	case !updater && len(c.Key) > 0:
		return bad("Config.Key", "is only used by the Updater: leave it empty for an Inserter")
	case c.HasJoin():
		return bad("Options.Condition", "incremental jobs cannot join other tables: give a condition on the source table's own columns")
	}
	for _, k := range c.Key {
		if k == "" {
			return bad("Config.Key", "has an empty column name")
		}
	}
	return nil
}

// definition is a job's identity and settings as stored in the catalog's
// config column.
type definition struct {
	Updater   bool        `json:"updater"`
	Type      ControlType `json:"type"`
	Control   string      `json:"control"`
	Filter    []string    `json:"filter,omitempty"`
	Columns   []string    `json:"columns"`
	Condition string      `json:"condition,omitempty"`
	Key       []string    `json:"key,omitempty"`
	// Boundary is in microseconds (Time) or values (Serial).
	Boundary   int64 `json:"boundary"`
	LateCommit bool  `json:"late_commit,omitempty"`
	// LookBack is in microseconds (Time) or values (Serial).
	LookBack      int64 `json:"look_back,omitempty"`
	BatchLimit    int   `json:"batch_limit,omitempty"`
	DSTStartMin   int   `json:"dst_start_minutes"`
	DSTEndMin     int   `json:"dst_end_minutes"`
	IgnoreDST     bool  `json:"ignore_dst,omitempty"`
	LongTxnMicros int64 `json:"long_transaction_us,omitempty"`
	DurableCommit bool  `json:"durable_commit,omitempty"`
}

// identityMismatch compares the identity fields of cfg (as given to New) with
// the stored definition; it returns the error for the first that differs.
func identityMismatch(cfg *Config, def *definition) error {
	diff := func(field, want string) error {
		return &replication.OptionError{Field: field,
			Problem: "differs from the job's setup (" + want + "): destroy the job and set it up again to change it"}
	}
	if cfg.Control != def.Control {
		return diff("Config.Control", "control column "+replication.QuoteIdent(def.Control))
	}
	if cfg.Type != "" && cfg.Type != def.Type {
		return diff("Config.Type", "type "+string(def.Type))
	}
	if !slices.Equal(cfg.Columns, def.Filter) {
		return diff("Options.Columns", "column filter "+strings.Join(def.Filter, ", "))
	}
	if strings.TrimSpace(cfg.Condition) != def.Condition {
		return diff("Options.Condition", "condition "+def.Condition)
	}
	if len(cfg.Key) > 0 && !slices.Equal(cfg.Key, def.Key) {
		return diff("Config.Key", "key "+strings.Join(def.Key, ", "))
	}
	return nil
}

// configFromDefinition rebuilds the tunable fields of a Config from a stored
// definition, for Open.
func configFromDefinition(def *definition, rt *Config) Config {
	var c Config
	if rt != nil {
		c = *rt
	}
	c.Control = def.Control
	c.Type = def.Type
	c.Columns = slices.Clone(def.Filter)
	c.Condition = def.Condition
	c.Key = slices.Clone(def.Key)
	if rt == nil || rt.BatchLimit == 0 {
		c.BatchLimit = def.BatchLimit
	}
	if def.Type == Time {
		d := time.Duration(def.Boundary) * time.Microsecond
		c.Boundary = &d
		c.LookBack = time.Duration(def.LookBack) * time.Microsecond
	} else {
		n := def.Boundary
		c.SerialBoundary = &n
		c.SerialLookBack = def.LookBack
	}
	c.LateCommit = def.LateCommit
	c.DSTStart = time.Duration(def.DSTStartMin) * time.Minute
	c.DSTEnd = time.Duration(def.DSTEndMin) * time.Minute
	c.IgnoreDST = def.IgnoreDST
	c.LongTransaction = time.Duration(def.LongTxnMicros) * time.Microsecond
	c.DurableCommit = def.DurableCommit
	return c
}
