package snapshot

import (
	"strconv"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Defaults of LoadOptions.
const (
	// DefaultProgressEvery is how often (in bytes copied) Progress is called.
	DefaultProgressEvery = 16 << 20
)

// LoadOptions tune how a refresh loads and swaps. The zero value is the
// recommended setting.
type LoadOptions struct {
	// Progress, if set, is called with the number of bytes copied so far,
	// about every ProgressEvery bytes, while a copy runs. It is called from
	// the copying goroutine and must return quickly. Default nil: no calls.
	Progress func(bytes int64)

	// ProgressEvery is the interval of Progress calls in bytes.
	// Default 0: DefaultProgressEvery (16 MiB).
	ProgressEvery int64

	// MaintenanceWorkMem, when set (for example "512MB"), is the
	// maintenance_work_mem of the destination transaction: the memory each
	// index build after the load may use. More memory makes the build of a
	// large index much faster. Default "": the server's setting.
	MaintenanceWorkMem string

	// From the job's replication.Options (see bind): DurableCommit, and
	// the DDL lock timeout and retries with their defaults.
	durable    bool
	ddlTimeout time.Duration
	ddlRetries int
}

// bind takes the settings of opts that the loads need.
func (o *LoadOptions) bind(opts *replication.Options) {
	o.durable = opts.DurableCommit
	o.ddlTimeout, o.ddlRetries = opts.DDLLock()
}

func (o LoadOptions) progressEvery() int64 {
	if o.ProgressEvery <= 0 {
		return DefaultProgressEvery
	}
	return o.ProgressEvery
}

func (o LoadOptions) validate(prefix string) error {
	if o.ProgressEvery < 0 {
		return &replication.OptionError{Field: prefix + ".ProgressEvery", Problem: "must be 0 (default) or positive"}
	}
	return nil
}

// Config configures a Snapshot. A nil or zero Config replicates every
// column and row of the source into a view of the same schema and name,
// replicates the source's indexes, pulls the data at setup, skips a refresh
// when the source's statistics show no change, does not wait for a busy
// lock, and logs nothing.
//
// The job's options (Columns, Condition, SkipIndexes, SkipUnchanged and
// PostScripts) are recorded in the catalog at Setup; Refresh and Destroy use
// the recorded ones, so a worker needs only the source and destination
// tables. The other fields apply to the calls of the Snapshot they are
// given to.
type Config struct {
	replication.Options
	LoadOptions

	// SkipUnchanged lets a refresh skip the pull when the source's
	// published statistics (pg_stat_all_tables) show no insert, update,
	// delete or truncate, on any table the pull reads, since the last
	// refresh. Default false: every refresh pulls, so it holds every change
	// committed before it started.
	//
	// The skip's guarantee is weaker than that: PostgreSQL publishes a
	// session's statistics after its commit, within about a second
	// normally and up to a minute on a busy server, so a change committed
	// that shortly before a refresh may be pulled only by a later one. A
	// source that has not changed for longer than that is skipped
	// correctly, which is what the option is for. Sources that statistics
	// cannot vouch for (views, foreign tables, functions) are always
	// pulled; a Condition that depends on the time or on functions that
	// read other tables must not use it.
	SkipUnchanged bool

	// PostScripts are SQL statements run in order on the destination, in
	// the refresh transaction, after a source column change made the
	// refresh rebuild the tables and the view: use them to re-create what
	// you added to the destination by hand (extra indexes on the
	// <dest>_snap1 and <dest>_snap2 tables, comments, policies).
	// Default none.
	PostScripts []string
}

func (c *Config) validate() error {
	if c == nil {
		return nil
	}
	if err := c.Options.Validate(); err != nil {
		return err
	}
	if err := validateCommon(&c.Options, "Config"); err != nil {
		return err
	}
	for i, s := range c.PostScripts {
		if strings.TrimSpace(s) == "" {
			return &replication.OptionError{Field: "Config.PostScripts", Problem: "statement " + strconv.Itoa(i) + " is empty"}
		}
	}
	return c.LoadOptions.validate("Config")
}

// TableConfig configures a Table. A nil or zero TableConfig copies every
// column and row of the source into a new table of the same schema and
// name, replicates the source's indexes, pulls the data at setup, does not
// wait for a busy lock, and logs nothing.
//
// As for Config, the job's options (Columns, Condition, SkipIndexes,
// TruncateCascade, Sequences) are recorded at Setup and used by later calls.
type TableConfig struct {
	replication.Options
	LoadOptions

	// TruncateCascade makes each refresh truncate, together with the
	// destination, every table that references it by a foreign key.
	// Default false: a destination that other tables reference cannot be
	// refreshed (the refresh fails and says so).
	TruncateCascade bool

	// Sequences are destination sequences that each refresh resets to the
	// highest value in use in the columns (of any table) whose default or
	// identity draws from them. Default none.
	Sequences []replication.Table
}

func (c *TableConfig) validate() error {
	if c == nil {
		return nil
	}
	if err := c.Options.Validate(); err != nil {
		return err
	}
	if err := validateCommon(&c.Options, "TableConfig"); err != nil {
		return err
	}
	for _, s := range c.Sequences {
		if err := s.Validate(); err != nil {
			return &replication.OptionError{Field: "TableConfig.Sequences", Problem: err.Error()}
		}
	}
	return c.LoadOptions.validate("TableConfig")
}

// validateCommon checks the shared options against what whole-table
// replication can do.
func validateCommon(o *replication.Options, prefix string) error {
	if o.BatchLimit != 0 {
		return &replication.OptionError{Field: prefix + ".BatchLimit",
			Problem: "whole-table replication copies every row each refresh; leave it 0"}
	}
	if len(o.Columns) > 0 && !o.SkipIndexes {
		return &replication.OptionError{Field: prefix + ".SkipIndexes",
			Problem: "index replication is not possible with a column filter (Columns): set SkipIndexes " +
				"and make the indexes you need on the destination yourself"}
	}
	return nil
}
