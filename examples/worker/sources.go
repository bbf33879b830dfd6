package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// sourcePools hands the scheduler pools on the sources named in the
// configuration; it leaves the others to the scheduler, which connects
// with the catalog's stored connection string and PGPASSWORD or a pgpass
// file.
type sourcePools struct {
	mu    sync.Mutex
	dsns  map[string]string
	pools map[string]*pgxpool.Pool
	owned []*pgxpool.Pool
}

func newSourcePools(dsns map[string]string) *sourcePools {
	return &sourcePools{dsns: dsns, pools: map[string]*pgxpool.Pool{}}
}

// add hands the scheduler pool for source name (the caller closes it).
func (s *sourcePools) add(name string, pool *pgxpool.Pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools[name] = pool
}

// connect is the scheduler's Config.Connect.
func (s *sourcePools) connect(ctx context.Context, name string) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[name]; ok {
		return p, nil
	}
	dsn, ok := s.dsns[name]
	if !ok {
		return nil, nil
	}
	p, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", replication.RedactDSN(dsn), err)
	}
	s.pools[name] = p
	s.owned = append(s.owned, p)
	return p, nil
}

func (s *sourcePools) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.owned {
		p.Close()
	}
}
