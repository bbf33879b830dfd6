package jobmon

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
	"github.com/pgmimeo/pgmimeo/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema of the job log tables when Config.Schema is empty.
const DefaultSchema = "jobmon"

// DefaultMaxConns is the size of the pool that Open makes when
// Config.MaxConns is 0.
const DefaultMaxConns = 2

// maxIdentLen is PostgreSQL's NAMEDATALEN-1.
const maxIdentLen = 63

// Config configures a Logger. A nil or zero Config works.
type Config struct {
	// Schema is the schema that holds the job log tables. Default "jobmon".
	Schema string

	// MaxConns caps the connections of the pool that Open makes for the
	// logger. Default 2. New, which is given a pool, ignores it.
	MaxConns int32

	// Logger receives notices about cancelled jobs, skipped SQL jobs and
	// cleared logs. Default nil: silent.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c == nil {
		return nil
	}
	if len(c.Schema) > maxIdentLen {
		return &ConfigError{Field: "Config.Schema", Problem: fmt.Sprintf("use a name of at most %d bytes", maxIdentLen)}
	}
	if strings.ContainsRune(c.Schema, 0) {
		return &ConfigError{Field: "Config.Schema", Problem: "remove the NUL byte from the name"}
	}
	if c.MaxConns < 0 {
		return &ConfigError{Field: "Config.MaxConns", Problem: "must be 0 (default 2) or positive"}
	}
	return nil
}

// Logger writes and reads the job log. Every write is its own statement on
// the logger's pool, committed at once and never part of a caller's
// transaction, so a job's log survives the rollback of the work it
// describes. A Logger is safe for concurrent use.
type Logger struct {
	pool   *pgxpool.Pool
	owned  bool
	schema string
	logger *slog.Logger

	serverMu    sync.Mutex
	serverStart time.Time
}

// New returns a Logger that writes through pool. The pool should have
// connections to spare while callers hold theirs in transactions: give the
// logger a pool of its own (see Open) when in doubt.
func New(pool *pgxpool.Pool, cfg *Config) (*Logger, error) {
	if pool == nil {
		return nil, &ConfigError{Field: "pool", Problem: "must not be nil"}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Logger{pool: pool, schema: DefaultSchema}
	if cfg != nil {
		if cfg.Schema != "" {
			l.schema = cfg.Schema
		}
		l.logger = cfg.Logger
	}
	return l, nil
}

// Open connects a pool of the logger's own to the database of connString
// (a URL or keyword/value string; empty means the PG* environment
// variables) and returns a Logger that writes through it. One connection
// is opened at once and kept open. Close closes the pool.
func Open(ctx context.Context, connString string, cfg *Config) (*Logger, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pcfg, err := dsn.ParsePool(connString)
	if err != nil {
		return nil, fmt.Errorf("jobmon: %w", err)
	}
	pcfg.MaxConns = DefaultMaxConns
	if cfg != nil && cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pcfg.MinConns = 1
	dsn.DefaultAppName(pcfg, "pgmimeo jobmon")
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("jobmon: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("jobmon: connect: %w", err)
	}
	l, err := New(pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	l.owned = true
	return l, nil
}

// Close closes the pool if Open made it; a pool given to New is the
// caller's to close.
func (l *Logger) Close() {
	if l.owned {
		l.pool.Close()
	}
}

// Schema returns the schema of the job log tables.
func (l *Logger) Schema() string { return l.schema }

// Migrate creates or upgrades the job log schema: the tables, the trigger
// that keeps job_check_log up to date and the check_job_status() function.
// It is safe to call concurrently and repeatedly.
func (l *Logger) Migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("load jobmon migrations: %w", err)
	}
	if _, err := migrate.Apply(ctx, l.pool, l.schema, ms); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == pgerrcode.DuplicateTable || pe.Code == pgerrcode.DuplicateFunction) {
			return fmt.Errorf("%w (schema %q already holds job log tables not made by pgmimeo, e.g. the pg_jobmon extension: use another Config.Schema)", err, l.schema)
		}
		return err
	}
	return nil
}

// MigrationSQL returns the SQL that Logger.Migrate runs in schema ("":
// DefaultSchema), as one script for a team that applies schema changes
// with its own migration tool: each numbered migration in its own
// transaction, recording its version so that Migrate later finds it
// applied.
func MigrationSQL(schema string) (string, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return "", fmt.Errorf("load jobmon migrations: %w", err)
	}
	return migrate.Script(schema, ms), nil
}

// t returns the quoted, schema-qualified name of one of our tables.
func (l *Logger) t(name string) string { return pgx.Identifier{l.schema, name}.Sanitize() }

// serverStarted returns the start time of the log server's postmaster,
// which tells whether another connection is to the same server.
func (l *Logger) serverStarted(ctx context.Context) (time.Time, error) {
	l.serverMu.Lock()
	defer l.serverMu.Unlock()
	if l.serverStart.IsZero() {
		if err := l.queryRow(ctx, `SELECT pg_postmaster_start_time()`, nil, &l.serverStart); err != nil {
			return time.Time{}, err
		}
	}
	return l.serverStart, nil
}
