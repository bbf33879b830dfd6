package snapshot

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// jobOf reads the job of dest and checks that it is of kind and replicates
// src.
func jobOf(ctx context.Context, c *replication.Catalog, db replication.DB, dest, src replication.Table, kind replication.Kind) (*replication.Job, error) {
	job, err := c.Job(ctx, db, dest)
	if err != nil {
		return nil, err
	}
	if job.Kind != kind {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("its job is of kind %q; use that kind's package", job.Kind)}
	}
	if job.SourceTable != src {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("its job replicates source %s, not %s", job.SourceTable, src)}
	}
	return job, nil
}
