package scheduler

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// sourcePools keeps one pool per source name for the life of a Run.
type sourcePools struct {
	mu      sync.Mutex
	pools   map[string]*pgxpool.Pool
	owned   []*pgxpool.Pool
	dest    *pgxpool.Pool
	catalog *replication.Catalog
	connect func(ctx context.Context, sourceName string) (*pgxpool.Pool, error)
	configs map[string]*pgxpool.Config
	conns   int32
	app     string
}

func newSourcePools(dest *pgxpool.Pool, c *Config) *sourcePools {
	return &sourcePools{pools: map[string]*pgxpool.Pool{}, dest: dest, catalog: replication.NewCatalog(c.Catalog),
		connect: c.Connect, configs: c.Sources, conns: int32(c.Concurrency+max(c.Spools, 0)) + 2, app: "pgmimeo scheduler " + c.WorkerID}
}

// get returns the pool of source name, opening it on first use.
func (p *sourcePools) get(ctx context.Context, name string) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pool, ok := p.pools[name]; ok {
		return pool, nil
	}
	var pool *pgxpool.Pool
	var err error
	if p.connect != nil {
		if pool, err = p.connect(ctx, name); err != nil {
			return nil, fmt.Errorf("connect to source %q: %w", name, err)
		}
	}
	if pool == nil {
		if pool, err = p.open(ctx, name); err != nil {
			return nil, err
		}
		p.owned = append(p.owned, pool)
	}
	p.pools[name] = pool
	return pool, nil
}

// open makes a pool of source name: on a copy of its Config.Sources
// configuration, else on its stored connection string, for which pgx
// fills in a missing password from PGPASSWORD, the pgpass file or the
// service file. A failed password authentication names those ways.
func (p *sourcePools) open(ctx context.Context, name string) (*pgxpool.Pool, error) {
	var cfg *pgxpool.Config
	stored := false
	if given, ok := p.configs[name]; ok && given != nil {
		cfg = given.Copy()
	} else {
		conninfo, err := p.catalog.Source(ctx, p.dest, name)
		if err != nil {
			return nil, err
		}
		if cfg, err = dsn.ParsePool(conninfo); err != nil {
			return nil, fmt.Errorf("source %q: %w", name, err)
		}
		stored = true
	}
	cfg.MaxConns = max(cfg.MaxConns, p.conns)
	dsn.DefaultAppName(cfg, p.app)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("source %q: open pool: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		if stored && sqltext.IsAuthFailure(err) {
			return nil, fmt.Errorf("source %q: %w (the catalog keeps no password: give the worker PGPASSWORD, a pgpass file or a service file, "+
				"or the source's pool configuration in scheduler.Config.Sources or a pool by Config.Connect)", name, err)
		}
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	return pool, nil
}

// close closes the pools this scheduler opened.
func (p *sourcePools) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pool := range p.owned {
		pool.Close()
	}
	p.owned = nil
	p.pools = map[string]*pgxpool.Pool{}
}
