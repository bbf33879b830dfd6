package incremental

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Open returns the Inserter or Updater of the job that replicates into
// destination table dest, rebuilt from the catalog, for workers that run
// jobs set up elsewhere. The job's settings come from the catalog; of rt
// (which may be nil) only the run-time fields are used: Options.LockWait,
// Options.JobLog, Options.Logger, Options.Catalog, Options.BatchLimit (when
// not 0) and Now. A job of another kind is a *replication.TableError
// wrapping ErrWrongKind.
func Open(ctx context.Context, source, destPool *pgxpool.Pool, dest replication.Table, rt *Config) (replication.Replicator, error) {
	if source == nil || destPool == nil {
		return nil, &replication.OptionError{Field: "source, dest", Problem: "is nil: pass pools on both databases"}
	}
	var opts replication.Options
	if rt != nil {
		opts = rt.Options
	}
	cat := replication.NewCatalog(opts.CatalogSchema())
	jb, err := cat.Job(ctx, destPool, dest)
	if err != nil {
		return nil, err
	}
	var def definition
	if err := json.Unmarshal(jb.Config, &def); err != nil {
		return nil, fmt.Errorf("decode job config of %s: %w", dest, err)
	}
	switch jb.Kind {
	case replication.KindInserterTime, replication.KindInserterSerial, replication.KindUpdaterTime, replication.KindUpdaterSerial:
	default:
		return nil, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("the job is of kind %s, not an incremental one", jb.Kind)}
	}
	c := configFromDefinition(&def, rt)
	c.Dest = dest
	c.SourceName = jb.SourceName
	c.Period = jb.Period
	j, err := newJob(source, destPool, jb.SourceTable, &c, def.Updater)
	if err != nil {
		return nil, err
	}
	j.given = false
	if def.Updater {
		return &Updater{j: j}, nil
	}
	return &Inserter{j: j}, nil
}
