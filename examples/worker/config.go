package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// config is the worker's configuration: a JSON file (-config), overridden
// by the flags given on the command line.
type config struct {
	// Dest is the destination database whose catalog the worker runs.
	Dest string `json:"dest"`
	// Sources are connection strings of sources by catalog name, for
	// sources whose stored connection string needs more than PGPASSWORD or
	// a pgpass file gives it.
	Sources     map[string]string `json:"sources"`
	Concurrency int               `json:"concurrency"`
	Kinds       []string          `json:"kinds"`
	Tables      []string          `json:"tables"`
	BatchLimit  int               `json:"batch_limit"`
	Jitter      duration          `json:"jitter"`
	Backoff     duration          `json:"backoff"`
	MaxBackoff  duration          `json:"max_backoff"`
	Poll        duration          `json:"poll"`
	Grace       duration          `json:"grace"`
	Catalog     string            `json:"catalog"`
	// JobmonSchema is where the job log is kept; "-" turns it off.
	JobmonSchema string `json:"jobmon_schema"`
	Once         bool   `json:"once"`
	// For stops the worker after this long (0: until SIGINT or SIGTERM).
	For duration `json:"for"`
	// DemoSource, when set, makes the worker set up demo tables there and
	// jobs for them in Dest, and remove them at the end.
	DemoSource string `json:"demo_source"`
}

// duration reads "30s"-style durations from JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func (d duration) d() time.Duration { return time.Duration(d) }

// defaults are the settings when neither the file nor a flag sets them.
func defaults() config {
	return config{Concurrency: 2, Grace: duration(30 * time.Second), Poll: duration(5 * time.Second), JobmonSchema: "jobmon"}
}

// parseConfig reads the -config file, if given, over the defaults, and then
// the flags that were set on the command line.
func parseConfig(args []string) (config, error) {
	c := defaults()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	file := fs.String("config", "", "JSON configuration file (see README.md); flags override it")
	dest := fs.String("dest", "", "destination database DSN (default: a throwaway local server with demo jobs)")
	var sources repeatFlag
	var kinds, tables listFlag
	fs.Var(&sources, "source", "name=DSN of a source the catalog names (repeatable); default: the stored connection string with PGPASSWORD or ~/.pgpass")
	fs.Var(&kinds, "kinds", "comma-separated job kinds to run (default: every kind)")
	fs.Var(&tables, "tables", "comma-separated destination tables to run (default: every job)")
	concurrency := fs.Int("concurrency", c.Concurrency, "refreshes run at once")
	batch := fs.Int("batch-limit", 0, "rows per refresh of incremental jobs (0: each job's own)")
	jitter := fs.Duration("jitter", 0, "random extra delay before each job's next run")
	backoff := fs.Duration("backoff", 0, "first delay after a failure, doubled per failure in a row (0: 30s)")
	maxBackoff := fs.Duration("max-backoff", 0, "longest backoff (0: 1h)")
	poll := fs.Duration("poll", c.Poll.d(), "longest wait between looks for due jobs")
	grace := fs.Duration("grace", c.Grace.d(), "how long refreshes in flight may finish after SIGINT/SIGTERM")
	catalog := fs.String("catalog", "", "catalog schema (default mimeo)")
	jobmonSchema := fs.String("jobmon", c.JobmonSchema, `job log schema on the destination ("-": no job log)`)
	once := fs.Bool("once", false, "run the jobs due now once and exit (for cron)")
	runFor := fs.Duration("for", 0, "stop after this long (default: until SIGINT/SIGTERM; 10s for the throwaway demo)")
	demo := fs.String("demo-source", "", "set up demo tables on this source DSN and jobs for them on -dest, removed at the end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return c, err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config file %s: %w", *file, err)
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dest":
			c.Dest = *dest
		case "source":
			if c.Sources == nil {
				c.Sources = map[string]string{}
			}
			for _, s := range sources {
				name, dsn, ok := strings.Cut(s, "=")
				if !ok || name == "" {
					err = fmt.Errorf("-source %q: give name=DSN", replication.RedactDSN(s))
					return
				}
				c.Sources[name] = dsn
			}
		case "kinds":
			c.Kinds = kinds
		case "tables":
			c.Tables = tables
		case "concurrency":
			c.Concurrency = *concurrency
		case "batch-limit":
			c.BatchLimit = *batch
		case "jitter":
			c.Jitter = duration(*jitter)
		case "backoff":
			c.Backoff = duration(*backoff)
		case "max-backoff":
			c.MaxBackoff = duration(*maxBackoff)
		case "poll":
			c.Poll = duration(*poll)
		case "grace":
			c.Grace = duration(*grace)
		case "catalog":
			c.Catalog = *catalog
		case "jobmon":
			c.JobmonSchema = *jobmonSchema
		case "once":
			c.Once = *once
		case "for":
			c.For = duration(*runFor)
		case "demo-source":
			c.DemoSource = *demo
		}
	})
	return c, err
}

// listFlag collects comma-separated or repeated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// repeatFlag collects repeated values as given.
type repeatFlag []string

func (r *repeatFlag) String() string { return strings.Join(*r, " ") }

func (r *repeatFlag) Set(v string) error {
	*r = append(*r, v)
	return nil
}
