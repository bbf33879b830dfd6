package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/dsn"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// methods are the kinds the command runs.
var methods = []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method}

// app is one invocation: its flags, its job file and the connections it
// opened, closed by close.
type app struct {
	file     string
	destDSN  string
	catalog  string
	jobLog   string
	noJobLog bool
	json     bool
	verbose  bool

	stdout, stderr io.Writer
	jf             *jobfile.File
	dest           *pgxpool.Pool
	destConns      int32 // the least connections of the destination pool
	sourceConns    int32 // the least connections of each source pool
	outMu          sync.Mutex
	log            *jobmon.Logger
	sources        map[string]*pgxpool.Pool
	logger         *slog.Logger
}

// load reads the job file, when one is given; need makes it required.
func (a *app) load(need bool) error {
	if a.jf != nil {
		return nil
	}
	if a.file == "" {
		if need {
			return usagef("give the job file with -f (see pgmimeo help jobfile)")
		}
		return nil
	}
	jf, err := jobfile.Load(a.file)
	if err != nil {
		return err
	}
	a.jf = jf
	return nil
}

// catalogSchema is --catalog, else the file's, else the default.
func (a *app) catalogSchema() string {
	if a.catalog != "" {
		return a.catalog
	}
	if a.jf != nil && a.jf.Catalog != "" {
		return a.jf.Catalog
	}
	return replication.DefaultCatalogSchema
}

// cat returns the job catalog.
func (a *app) cat() *replication.Catalog { return replication.NewCatalog(a.catalogSchema()) }

// destConnString is --dest, else the file's destination, else "" (the PG*
// environment variables).
func (a *app) destConnString() string {
	if a.destDSN != "" {
		return a.destDSN
	}
	if a.jf != nil {
		return a.jf.Destination
	}
	return ""
}

// destination opens the destination pool, with at least conns connections.
func (a *app) destination(ctx context.Context) (*pgxpool.Pool, error) {
	if a.dest != nil {
		return a.dest, nil
	}
	pool, err := a.open(ctx, "destination", a.destConnString(), max(a.destConns, 4))
	if err != nil {
		return nil, err
	}
	a.dest = pool
	return pool, nil
}

// open makes a pool on connString and checks that it connects. A
// password failure names where the password should come from.
func (a *app) open(ctx context.Context, what, connString string, conns int32) (*pgxpool.Pool, error) {
	cfg, err := dsn.ParsePool(connString)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cfg.MaxConns = max(cfg.MaxConns, conns)
	dsn.DefaultAppName(cfg, "pgmimeo")
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w%s", what, err, authHint(err))
	}
	return pool, nil
}

// authHint is the fix of a failed password authentication.
func authHint(err error) string {
	if !sqltext.IsAuthFailure(err) {
		return ""
	}
	return " (pgmimeo keeps no password: give it in PGPASSWORD, a pgpass file (PGPASSFILE), a service file, or a ${NAME} reference in the job file)"
}

// source opens the pool of source name: from the job file when it
// declares the source, else from the catalog's password-free record.
func (a *app) source(ctx context.Context, name string) (*pgxpool.Pool, error) {
	if p, ok := a.sources[name]; ok {
		return p, nil
	}
	var conninfo string
	if s, ok := a.jfSource(name); ok {
		conninfo = s
	} else {
		dest, err := a.destination(ctx)
		if err != nil {
			return nil, err
		}
		if conninfo, err = a.cat().Source(ctx, dest, name); err != nil {
			return nil, err
		}
	}
	pool, err := a.open(ctx, fmt.Sprintf("source %q", name), conninfo, max(a.sourceConns, 4))
	if err != nil {
		return nil, err
	}
	if a.sources == nil {
		a.sources = map[string]*pgxpool.Pool{}
	}
	a.sources[name] = pool
	return pool, nil
}

func (a *app) jfSource(name string) (string, bool) {
	if a.jf == nil {
		return "", false
	}
	s, ok := a.jf.Sources[name]
	return s.DSN, ok
}

// jobLogOff reports whether job logging is off (--no-job-log, or the file).
func (a *app) jobLogOff() bool { return a.noJobLog || (a.jf != nil && a.jf.JobLog.Off) }

// jobLogSchema is --job-log, else the file's, else jobmon's default.
func (a *app) jobLogSchema() string {
	if a.jobLog != "" {
		return a.jobLog
	}
	if a.jf != nil && a.jf.JobLog.Schema != "" {
		return a.jf.JobLog.Schema
	}
	return jobmon.DefaultSchema
}

// jobLogger returns the job log the jobs write to, its schema made or
// upgraded; nil when logging is off.
func (a *app) jobLogger(ctx context.Context) (replication.JobLog, error) {
	if a.jobLogOff() {
		return nil, nil
	}
	if a.log == nil {
		log, err := jobmon.Open(ctx, a.destConnString(), &jobmon.Config{Schema: a.jobLogSchema(), Logger: a.logger})
		if err != nil {
			return nil, fmt.Errorf("job log: %w", err)
		}
		if err := log.Migrate(ctx); err != nil {
			log.Close()
			return nil, fmt.Errorf("job log: %w", err)
		}
		a.log = log
	}
	return a.log, nil
}

// close closes what the invocation opened.
func (a *app) close() {
	if a.log != nil {
		a.log.Close()
	}
	for _, p := range a.sources {
		p.Close()
	}
	if a.dest != nil {
		a.dest.Close()
	}
}

// sourceNames lists the file's sources in order.
func (a *app) sourceNames() []string {
	var names []string
	if a.jf != nil {
		for name := range a.jf.Sources {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
