// Package jobfile reads the job file of the pgmimeo command: one YAML file
// declaring the destination, the sources and the jobs. Load checks it
// whole and names the line, column and field of every problem; it never
// touches a database. Connection strings carry no password: the file may
// name environment variables (${NAME}) and pgx finds passwords in
// PGPASSWORD, a pgpass file or a service file, as for psql.
package jobfile

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The job kinds a file may declare.
const (
	KindSnapshot = "snapshot"
	KindTable    = "table"
	KindInserter = "inserter"
	KindUpdater  = "updater"
	KindDML      = "dml"
	KindLogDel   = "logdel"
)

// Kinds lists the job kinds in the order messages name them.
var Kinds = []string{KindSnapshot, KindTable, KindInserter, KindUpdater, KindDML, KindLogDel}

// File is a job file.
type File struct {
	// Path is where the file was read from ("" for Parse).
	Path string `yaml:"-"`
	// Destination is the destination database's connection string,
	// without a password. Default "": the PG* environment variables.
	Destination string `yaml:"destination"`
	// Catalog is the destination schema of the job catalog. Default "mimeo".
	Catalog string `yaml:"catalog"`
	// JobLog is the job log (pg_jobmon's tables) every job logs to.
	JobLog JobLog `yaml:"job_log"`
	// Sources are the source databases by name.
	Sources map[string]Source `yaml:"sources"`
	// Jobs are the declared jobs, in the file's order.
	Jobs []Job `yaml:"jobs"`
}

// JobLog configures the job log.
type JobLog struct {
	// Off turns job logging off. Default false: jobs log to Schema.
	Off bool `yaml:"off"`
	// Schema is the job log's schema. Default "jobmon".
	Schema string `yaml:"schema"`
}

// Source is a source database.
type Source struct {
	// DSN is its connection string, without a password.
	DSN string `yaml:"dsn"`
}

// Job is one declared job. Which fields a kind takes is checked by Load.
type Job struct {
	// Line is the line of the job in the file.
	Line int `yaml:"-"`

	Kind   string `yaml:"kind"`
	Source string `yaml:"source"`
	Table  string `yaml:"table"`
	Dest   string `yaml:"dest"`

	Period     Duration  `yaml:"period"`
	Paused     bool      `yaml:"paused"`
	Unlogged   bool      `yaml:"unlogged"`
	BatchLimit int       `yaml:"batch_limit"`
	LockWait   *LockWait `yaml:"lock_wait"`

	LagWarning  Duration `yaml:"lag_warning"`
	LagCritical Duration `yaml:"lag_critical"`

	Columns       []string `yaml:"columns"`
	Condition     string   `yaml:"condition"`
	SkipIndexes   bool     `yaml:"skip_indexes"`
	DurableCommit bool     `yaml:"durable_commit"`

	SkipUnchanged bool     `yaml:"skip_unchanged"`
	PostScripts   []string `yaml:"post_scripts"`

	TruncateCascade bool     `yaml:"truncate_cascade"`
	Sequences       []string `yaml:"sequences"`

	Control        string    `yaml:"control"`
	ControlType    string    `yaml:"control_type"`
	Boundary       *Duration `yaml:"boundary"`
	SerialBoundary *int64    `yaml:"serial_boundary"`
	LateCommit     bool      `yaml:"late_commit"`

	Key         []string `yaml:"key"`
	Capture     string   `yaml:"capture"`
	QueueSchema string   `yaml:"queue_schema"`
	FetchFirst  bool     `yaml:"fetch_first"`
	Slot        string   `yaml:"slot"`
	Spool       bool     `yaml:"spool"`
}

// Duration is a Go duration written as text ("90s", "5m", "1h30m").
type Duration struct {
	D   time.Duration
	bad string // the text, when it is not a duration
}

// UnmarshalText implements encoding.TextUnmarshaler. Text that is not a
// duration is kept, for Load to report at its line.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		*d = Duration{bad: string(b)}
		return nil
	}
	*d = Duration{D: v}
	return nil
}

// LockWait is how long a refresh waits for the destination's lock: a
// duration, or "forever".
type LockWait struct {
	// Forever waits for ever; else Wait.
	Forever bool
	Wait    time.Duration
	bad     string
}

// UnmarshalText implements encoding.TextUnmarshaler, as Duration's does.
func (w *LockWait) UnmarshalText(b []byte) error {
	if string(b) == "forever" {
		*w = LockWait{Forever: true}
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil || v <= 0 {
		*w = LockWait{bad: string(b)}
		return nil
	}
	*w = LockWait{Wait: v}
	return nil
}

// Load reads and checks the job file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parse(path, data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Parse checks a job file's text; ${NAME} references are looked up with
// lookup (os.LookupEnv for Load).
func Parse(data []byte, lookup func(string) (string, bool)) (*File, error) {
	return parse("", data, lookup)
}

func parse(path string, data []byte, lookup func(string) (string, bool)) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Path: path, Line: 1, Column: 1, Problem: "the job file is empty: declare at least one job under jobs:"}
	}
	tree, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(path, err)
	}
	var f File
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlError(path, err)
	}
	f.Path = path
	c := &checker{path: path, tree: tree, lookup: lookup}
	c.file(&f)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return &f, nil
}

// yamlError turns go-yaml's error, which names the line and column, into
// an *Error.
func yamlError(path string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return &Error{Path: path, Line: tk.Position.Line, Column: tk.Position.Column, Problem: firstLine(ye.GetMessage())}
		}
	}
	return &Error{Path: path, Problem: firstLine(err.Error())}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// position returns the line and column of the node at path p ("$.jobs[2].kind").
func position(tree *ast.File, p string) (int, int) {
	yp, err := yaml.PathString(p)
	if err != nil {
		return 0, 0
	}
	n, err := yp.FilterFile(tree)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0, 0
	}
	return n.GetToken().Position.Line, n.GetToken().Position.Column
}
