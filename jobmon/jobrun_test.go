package jobmon_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// TestOneJobRunForEveryKind runs the same events through every kind: a
// refresh that finds the destination locked, and a refresh that fails.
// Every kind gives the same skip reason and error, counts the same
// failures in the catalog, and leaves the same jobmon entries, since one
// code path (replication.Run) runs them all.
func TestOneJobRunForEveryKind(t *testing.T) {
	t.Parallel()
	zero := int64(0)
	kinds := []struct {
		name    string
		refresh string // the refresh's job name, as pg_jobmon shows it
		make    func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error)
	}{
		{"snapshot", "REFRESH SNAP: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return snapshot.New(b.Source, b.Dest, replication.T("public", "t"), &snapshot.Config{Options: o})
		}},
		{"table", "REFRESH TABLE: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return snapshot.NewTable(b.Source, b.Dest, replication.T("public", "t"), &snapshot.TableConfig{Options: o})
		}},
		{"inserter", "REFRESH INSERTER: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return incremental.NewInserter(b.Source, b.Dest, replication.T("public", "t"), &incremental.Config{Options: o, Control: "seq", SerialBoundary: &zero})
		}},
		{"updater", "REFRESH UPDATER: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return incremental.NewUpdater(b.Source, b.Dest, replication.T("public", "t"), &incremental.Config{Options: o, Control: "seq", SerialBoundary: &zero})
		}},
		{"dml", "REFRESH DML: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return dml.New(b.Source, b.Dest, replication.T("public", "t"), &dml.Config{Options: o})
		}},
		{"logdel", "REFRESH LOGDEL: PUBLIC.T", func(b *pgtest.Bundle, o replication.Options) (replication.Replicator, error) {
			return logdel.New(b.Source, b.Dest, replication.T("public", "t"), &logdel.Config{Options: o})
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := pgtest.Setup(t)
			log, err := jobmon.New(b.Dest, nil)
			require.NoError(t, err)
			require.NoError(t, log.Migrate(ctx))
			pgtest.MustExec(t, b.Source, `CREATE TABLE t (id int PRIMARY KEY, seq bigint NOT NULL, v text);
				INSERT INTO t SELECT g, g, 'v' FROM generate_series(1, 20) g`)
			r, err := k.make(b, replication.Options{JobLog: log})
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			failures := func() []string {
				return pgtest.Rows(t, b.Dest, `SELECT failures FROM mimeo.jobs`)
			}

			// Locked: skipped, the same reason, a WARNING job, no failure.
			conn, err := b.Dest.Acquire(ctx)
			require.NoError(t, err)
			lock, err := replication.AcquireLock(ctx, conn, r.Dest(), nil)
			require.NoError(t, err)
			res, err := r.Refresh(ctx)
			require.ErrorIs(t, err, replication.ErrLocked)
			require.True(t, res.Skipped)
			require.Equal(t, replication.SkipLocked, res.SkipReason)
			require.NoError(t, lock.Release(ctx))
			conn.Release()
			require.Equal(t, []string{"(0)"}, failures())

			// Failing: the source is gone; one failure counted, a CRITICAL job.
			pgtest.MustExec(t, b.Source, `DROP TABLE t CASCADE`)
			_, err = r.Refresh(ctx)
			require.Error(t, err)
			require.Equal(t, []string{"(1)"}, failures())

			jobs, err := log.ShowJob(ctx, k.refresh, 10)
			require.NoError(t, err)
			require.Len(t, jobs, 2, "%+v", jobs)
			require.Equal(t, "CRITICAL", jobs[0].Status)
			require.Equal(t, "WARNING", jobs[1].Status)
			steps, err := log.ShowDetail(ctx, jobs[1].ID)
			require.NoError(t, err)
			require.Len(t, steps, 1)
			require.Equal(t, "WARNING", steps[0].Action)
			require.Contains(t, steps[0].Message, "Run skipped: ")
			require.Contains(t, steps[0].Message, replication.ErrLocked.Error())
			steps, err = log.ShowDetail(ctx, jobs[0].ID)
			require.NoError(t, err)
			require.NotEmpty(t, steps)
			last := steps[len(steps)-1]
			require.Equal(t, "CRITICAL", last.Status)
			require.Contains(t, last.Message, "ERROR: ")
		})
	}
}
