package export

import (
	"log/slog"

	"github.com/pgmimeo/pgmimeo/replication"
)

// ExporterConfig configures an Exporter. The zero value works.
type ExporterConfig struct {
	// Schema is the source schema of the tracking tables, the shadow table
	// and its trigger function. It must be owned by the exporting role, or
	// that role must be allowed to create it. Default DefaultExportSchema
	// ("mimeo_export").
	Schema string
	// Key is the key column: a NOT NULL column with a unique index of its
	// own, typically fed by a sequence. Default DefaultKey ("id").
	Key string
	// SourceName names the source in manifests and acknowledgements.
	// Default: the source database's name.
	SourceName string
	// Logger receives one line per export and acknowledgement; nil is
	// silent.
	Logger *slog.Logger
}

func (c *ExporterConfig) withDefaults() ExporterConfig {
	var out ExporterConfig
	if c != nil {
		out = *c
	}
	if out.Schema == "" {
		out.Schema = DefaultExportSchema
	}
	if out.Key == "" {
		out.Key = DefaultKey
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *ExporterConfig) validate() error {
	if err := replication.T(c.Schema, "x").Validate(); err != nil {
		return &replication.OptionError{Field: "ExporterConfig.Schema", Problem: "name a schema of at most 63 bytes without NUL"}
	}
	if len(c.Key) > 63 {
		return &replication.OptionError{Field: "ExporterConfig.Key", Problem: "name a column of at most 63 bytes"}
	}
	return nil
}

// ImporterConfig configures an Importer. The zero value works.
type ImporterConfig struct {
	// Schema is the destination schema of the record of applied batches.
	// It must be owned by the importing role, or that role must be allowed
	// to create it. Default DefaultImportSchema ("mimeo_import").
	Schema string
	// Dest is the destination table. Default: the exported table's schema
	// and name, from the manifest.
	Dest replication.Table
	// Target, when set, is the only target whose batches are accepted
	// (ErrWrongStream for others). Default: any.
	Target Target
	// AckDir is where acknowledgements are written, as
	// "<batch directory name>.ack.json". Default: next to the batch
	// directory.
	AckDir string
	// Logger receives one line per import; nil is silent.
	Logger *slog.Logger
}

func (c *ImporterConfig) withDefaults() ImporterConfig {
	var out ImporterConfig
	if c != nil {
		out = *c
	}
	if out.Schema == "" {
		out.Schema = DefaultImportSchema
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *ImporterConfig) validate() error {
	if err := replication.T(c.Schema, "x").Validate(); err != nil {
		return &replication.OptionError{Field: "ImporterConfig.Schema", Problem: "name a schema of at most 63 bytes without NUL"}
	}
	if !c.Dest.IsZero() {
		if err := c.Dest.Validate(); err != nil {
			return &replication.OptionError{Field: "ImporterConfig.Dest", Problem: err.Error()}
		}
	}
	if c.Target != (Target{}) {
		if err := c.Target.validate(); err != nil {
			return &replication.OptionError{Field: "ImporterConfig.Target", Problem: "give both Host and Database, or neither"}
		}
	}
	return nil
}
