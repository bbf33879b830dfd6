package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Bundle is what one test gets: a source and a destination database of its
// own on the shared server, with pools opened as the superuser.
type Bundle struct {
	Server *Server
	// Source and Dest are pools on the two databases.
	Source *pgxpool.Pool
	Dest   *pgxpool.Pool
	// SourceDB and DestDB are the database names.
	SourceDB string
	DestDB   string
	// SourceDSN and DestDSN are superuser DSNs of the two databases.
	SourceDSN string
	DestDSN   string
}

var dbSeq atomic.Int64

// dbPrefix makes database and role names unique per test binary, so that
// test binaries sharing a server (the DSN source) do not collide.
var dbPrefix = func() string {
	name := strings.ToLower(filepath.Base(os.Args[0]))
	name = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.TrimSuffix(name, ".test"), "_")
	if len(name) > 20 {
		name = name[:20]
	}
	return fmt.Sprintf("t_%s_%d_%d", name, os.Getpid(), time.Now().UnixNano()%100000)
}()

// Setup gives the test a fresh source and destination database, dropped
// (with their pools closed) when the test ends.
func Setup(tb testing.TB) *Bundle {
	tb.Helper()
	s := Shared(tb)
	b := &Bundle{Server: s}
	b.SourceDB = s.CreateDatabase(tb)
	b.DestDB = s.CreateDatabase(tb)
	b.SourceDSN = s.AdminDSN(b.SourceDB)
	b.DestDSN = s.AdminDSN(b.DestDB)
	b.Source = Pool(tb, b.SourceDSN)
	b.Dest = Pool(tb, b.DestDSN)
	return b
}

// Pool opens a pool on dsn that is closed when the test ends.
func Pool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	p, err := openPool(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// openPool opens a pool on dsn with room for the several connections a
// replicator takes on one database.
func openPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.MaxConns = 8
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return p, nil
}

// CreateDatabase creates an empty database and returns its name; it is
// dropped when the test ends, together with any replication slots in it.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name, err := s.createDatabase(context.Background())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.dropDatabase(name); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return name
}

// createDatabase creates an empty database with a name unique to this test
// binary and returns the name.
func (s *Server) createDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("%s_db%d", dbPrefix, dbSeq.Add(1))
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return name, nil
}

// dropDatabase drops database name, with its replication slots and any
// sessions still connected to it.
func (s *Server) dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("connect to drop %s: %w", name, err)
	}
	defer conn.Close(ctx)
	// Slots keep a database alive; a slot in use is freed by terminating
	// its walsender first.
	for i := 0; i < 50; i++ {
		_, _ = conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, name)
		_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, name)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// NewDatabase creates one more database for the test and returns its name
// and superuser DSN.
func (b *Bundle) NewDatabase(tb testing.TB) (name, dsn string) {
	name = b.Server.CreateDatabase(tb)
	return name, b.Server.AdminDSN(name)
}

// Role is a login role created for one test.
type Role struct {
	Name     string
	Password string
}

// CreateRole creates a login role with the given extra attributes (for
// example "REPLICATION"); it is dropped when the test ends, after the test's
// databases. Grants are the caller's to make.
func (s *Server) CreateRole(tb testing.TB, attrs ...string) Role {
	tb.Helper()
	r := Role{Name: fmt.Sprintf("%s_r%d", dbPrefix, dbSeq.Add(1)), Password: randomPassword()}
	ctx := context.Background()
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	stmt := fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' %s", pgx.Identifier{r.Name}.Sanitize(), r.Password, strings.Join(attrs, " "))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		tb.Fatalf("pgtest: create role: %v", err)
	}
	// Registered now, so it runs after the cleanups of databases created
	// later in the test; databases created earlier hold no objects of a
	// role that did not exist yet except through grants, which DROP OWNED
	// removes.
	tb.Cleanup(func() { s.dropRole(tb, r.Name) })
	return r
}

func (s *Server) dropRole(tb testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		tb.Errorf("pgtest: connect to drop role: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1 AND datallowconn`, dbPrefix+"%")
	if err != nil {
		tb.Errorf("pgtest: list databases: %v", err)
		return
	}
	dbs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, db := range dbs {
		c, err := s.Connect(ctx, db)
		if err != nil {
			continue
		}
		_, _ = c.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		c.Close(ctx)
	}
	_, _ = conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, name)
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Errorf("pgtest: drop role %s: %v", name, err)
	}
}

// CreateRole creates a login role for the test (see Server.CreateRole).
func (b *Bundle) CreateRole(tb testing.TB, attrs ...string) Role {
	return b.Server.CreateRole(tb, attrs...)
}

// DSN returns a DSN for database db as role r.
func (b *Bundle) DSN(db string, r Role) string { return b.Server.DSN(db, r.Name, r.Password) }

// Execer is anything with pgx's Exec: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Querier is anything with pgx's Query.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// MustExec runs sql on db and fails the test on error.
func MustExec(tb testing.TB, db Execer, sql string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Rows returns every row of query as its text form (row::text), sorted, so
// that two databases' contents can be compared row by row.
func Rows(tb testing.TB, db Querier, query string, args ...any) []string {
	tb.Helper()
	rows, err := db.Query(context.Background(), "SELECT q::text FROM ("+query+") q ORDER BY 1", args...)
	if err != nil {
		tb.Fatalf("pgtest: rows of %s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("pgtest: rows of %s: %v", query, err)
	}
	if out == nil {
		out = []string{}
	}
	return out
}
