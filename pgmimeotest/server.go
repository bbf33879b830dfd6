package pgmimeotest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// Server is a throwaway PostgreSQL server.
type Server struct {
	srv *pgtest.Server
}

// Start starts (or, with PGMIMEO_TEST_DSN, borrows) a server; see the
// package documentation for where it comes from.
func Start(ctx context.Context) (*Server, error) {
	srv, err := pgtest.StartServer(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("pgmimeotest: start a PostgreSQL server: %w", err)
	}
	return &Server{srv: srv}, nil
}

// String says where the server is and where it came from, without secrets.
func (s *Server) String() string {
	return fmt.Sprintf("%s at %s:%s", s.srv.Source, s.srv.Host, s.srv.Port)
}

// CreateDatabase creates database name and returns a superuser DSN for it.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := s.srv.Connect(ctx, "postgres")
	if err != nil {
		return "", fmt.Errorf("pgmimeotest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgmimeotest: create database %s: %w", name, err)
	}
	return s.srv.AdminDSN(name), nil
}

// CreateDatabases creates the databases named and returns a superuser
// DSN for each, in order.
func (s *Server) CreateDatabases(ctx context.Context, names ...string) ([]string, error) {
	dsns := make([]string, len(names))
	for i, n := range names {
		dsn, err := s.CreateDatabase(ctx, n)
		if err != nil {
			return nil, err
		}
		dsns[i] = dsn
	}
	return dsns, nil
}

// Stop stops the server and removes its files (a borrowed server is left
// running). Stopping twice is harmless.
func (s *Server) Stop() error { return s.srv.Stop() }
