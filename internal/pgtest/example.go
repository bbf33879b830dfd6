package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ExampleDatabases gives an Example n fresh, empty databases on the test
// binary's shared server (see SharedServer; Main stops it). It returns a
// superuser pool and DSN for each, and a cleanup that closes the pools and
// drops the databases together with any replication slots in them. Each
// pool allows 8 connections.
//
// Examples have no testing.TB, so errors come back to the caller; cleanup
// reports its own on standard error, which Examples do not compare.
func ExampleDatabases(ctx context.Context, n int) (pools []*pgxpool.Pool, dsns []string, cleanup func(), err error) {
	if n < 1 {
		return nil, nil, nil, errors.New("pgtest: ExampleDatabases wants at least one database")
	}
	s, err := SharedServer()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pgtest: no PostgreSQL server: %w", err)
	}
	var names []string
	cleanup = func() {
		for _, p := range pools {
			p.Close()
		}
		for _, name := range names {
			if err := s.dropDatabase(name); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			}
		}
	}
	for i := 0; i < n; i++ {
		name, err := s.createDatabase(ctx)
		if err != nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("pgtest: %w", err)
		}
		names = append(names, name)
		dsn := s.AdminDSN(name)
		p, err := openPool(ctx, dsn)
		if err != nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("pgtest: %w", err)
		}
		pools = append(pools, p)
		dsns = append(dsns, dsn)
	}
	return pools, dsns, cleanup, nil
}
