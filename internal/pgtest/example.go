package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Example is what a runnable Example works on: fresh, empty databases on
// the test binary's shared server (see SharedServer; Main stops it).
type Example struct {
	// Pools holds a superuser pool for each database, in order; each
	// allows 8 connections.
	Pools []*pgxpool.Pool
	// DSNs holds the superuser DSN of each database, in the same order.
	DSNs []string

	server *Server
	names  []string
}

// MustExample gives an Example n fresh, empty databases. Examples have no
// testing.TB, so it panics when there is no server or a database cannot be
// made; the Example fails and Main still stops the server. Call Close when
// done:
//
//	dbs := pgtest.MustExample(ctx, 2)
//	defer dbs.Close()
//	source, dest := dbs.Pools[0], dbs.Pools[1]
func MustExample(ctx context.Context, n int) *Example {
	ex, err := newExample(ctx, n)
	if err != nil {
		panic(err)
	}
	return ex
}

func newExample(ctx context.Context, n int) (*Example, error) {
	if n < 1 {
		return nil, errors.New("pgtest: an Example wants at least one database")
	}
	s, err := SharedServer()
	if err != nil {
		return nil, fmt.Errorf("pgtest: no PostgreSQL server: %w", err)
	}
	ex := &Example{server: s}
	for i := 0; i < n; i++ {
		name, err := s.createDatabase(ctx)
		if err != nil {
			ex.Close()
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		ex.names = append(ex.names, name)
		dsn := s.AdminDSN(name)
		p, err := openPool(ctx, dsn)
		if err != nil {
			ex.Close()
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		ex.Pools = append(ex.Pools, p)
		ex.DSNs = append(ex.DSNs, dsn)
	}
	return ex, nil
}

// Close closes the pools and drops the databases together with any
// replication slots in them. It reports its own errors on standard error,
// which Examples do not compare.
func (ex *Example) Close() {
	for _, p := range ex.Pools {
		p.Close()
	}
	for _, name := range ex.names {
		if err := ex.server.dropDatabase(name); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
}
