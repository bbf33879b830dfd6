package dml

import (
	"fmt"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/replication"
)

// DefaultQueueSchema is the source schema of the queue objects when
// Config.QueueSchema is empty. It differs from the destination catalog's
// default ("mimeo") so that a source and destination in one database do not
// share a schema.
const DefaultQueueSchema = "mimeo_queue"

// DefaultChunkSize is the number of queue entries one destination
// transaction applies when Config.ChunkSize is zero.
const DefaultChunkSize = 25000

// MaxDestinations is the number of destinations (queues) one source table
// can feed.
const MaxDestinations = 100

// Config configures a DML replication job. A nil or zero Config replicates
// every column and row by the table's primary key into a table of the same
// name, with the queue objects in schema "mimeo_queue" on the source.
type Config struct {
	replication.Options

	// Key names the columns that identify a row, in key order; they must be
	// NOT NULL. Default: the primary key, else the alphabetically first
	// unique index on NOT NULL plain columns.
	Key []string

	// QueueSchema is the source schema that holds the queue tables, the
	// trigger functions and the queue registry. The source role must own it
	// (or be allowed to create it). Default "mimeo_queue".
	QueueSchema string

	// FetchFirst fetches every row of a refresh's batch into the destination
	// before applying any, in one destination transaction, so that the
	// source's part ends sooner (mimeo's insert_on_fetch = false). Default
	// false: the batch is applied in chunks of ChunkSize entries, each in its
	// own destination transaction, and the next chunk is fetched while the
	// previous one is applied.
	FetchFirst bool

	// ChunkSize is the number of queue entries fetched and applied per
	// destination transaction when FetchFirst is false. Default 25,000.
	ChunkSize int

	// Capture chooses how source changes are captured: CaptureTrigger (the
	// trigger and queue tables) or CaptureLogical (logical decoding through
	// a publication and a replication slot; see the package documentation).
	// Default CaptureTrigger.
	Capture Capture

	// Logical configures logical capture; ignored with the trigger queue.
	// The zero value works.
	Logical LogicalConfig

	// Fillfactor is the fillfactor of the destination table setup creates
	// (10 to 100). Default 90: every source update is replayed as an update
	// of the destination row, and the free room left in each page lets most
	// of them be HOT updates, which add no index entries.
	Fillfactor int

	// KeepDeleted keeps deleted rows on the destination, stamped with their
	// deletion time in column mimeo_source_deleted: a LogDeletes job, of
	// catalog kind logdel (package logdel sets it; see its documentation).
	// Default false: a DML job, whose deleted rows are removed.
	KeepDeleted bool
}

// variant is the apply variant the job runs.
func (c *Config) variant() keyapply.Variant {
	if c.KeepDeleted {
		return keyapply.KeepDeleted
	}
	return keyapply.Plain
}

// DefaultFillfactor is the destination's fillfactor when Config.Fillfactor
// is zero.
const DefaultFillfactor = 90

func (c *Config) queueSchema() string {
	if c.QueueSchema == "" {
		return DefaultQueueSchema
	}
	return c.QueueSchema
}

func (c *Config) chunkSize() int {
	if c.ChunkSize <= 0 {
		return DefaultChunkSize
	}
	return c.ChunkSize
}

func (c *Config) fillfactor() int {
	if c.Fillfactor == 0 {
		return DefaultFillfactor
	}
	return c.Fillfactor
}

// validate checks what can be checked without a database and names the
// field at fault.
func (c *Config) validate() error {
	if err := c.Options.Validate(); err != nil {
		return err
	}
	if c.ChunkSize < 0 {
		return &replication.OptionError{Field: "Config.ChunkSize", Problem: "must be 0 (the default) or positive"}
	}
	if c.Fillfactor != 0 && (c.Fillfactor < 10 || c.Fillfactor > 100) {
		return &replication.OptionError{Field: "Config.Fillfactor", Problem: "must be 0 (the default, 90) or from 10 to 100"}
	}
	if err := c.Capture.validate(); err != nil {
		return err
	}
	if err := c.Logical.validate(c.Capture); err != nil {
		return err
	}
	qs := c.queueSchema()
	if len(qs) > 63 {
		return &replication.OptionError{Field: "Config.QueueSchema", Problem: fmt.Sprintf("%q is longer than 63 bytes", qs)}
	}
	if qs == c.CatalogSchema() {
		return &replication.OptionError{Field: "Config.QueueSchema",
			Problem: fmt.Sprintf("must differ from the catalog schema %q (source and destination may be one database)", qs)}
	}
	seen := map[string]bool{}
	for _, k := range c.Key {
		if k == "" {
			return &replication.OptionError{Field: "Config.Key", Problem: "has an empty column name"}
		}
		if seen[k] {
			return &replication.OptionError{Field: "Config.Key", Problem: fmt.Sprintf("names column %q twice", k)}
		}
		seen[k] = true
	}
	return nil
}
