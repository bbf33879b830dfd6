package jobmon_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// TestReplicatorsLogTheirBackend checks that a refresh of each kind logged
// through jobmon records the destination backend doing it, so that
// CheckJobStatus can see it running or blocked and CancelJob can stop it.
func TestReplicatorsLogTheirBackend(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	log, err := jobmon.New(b.Dest, nil)
	require.NoError(t, err)
	require.NoError(t, log.Migrate(ctx))
	pgtest.MustExec(t, b.Source, `CREATE TABLE s (id int PRIMARY KEY, v text);
		CREATE TABLE i (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now() - interval '1 hour');
		CREATE TABLE d (id int PRIMARY KEY, v text);
		INSERT INTO s SELECT g, 'v' FROM generate_series(1, 10) g;
		INSERT INTO i (id) SELECT generate_series(1, 10);
		INSERT INTO d SELECT g, 'v' FROM generate_series(1, 10) g`)
	opts := replication.Options{JobLog: log}

	snap, err := snapshot.New(b.Source, b.Dest, replication.T("public", "s"), &snapshot.Config{Options: opts})
	require.NoError(t, err)
	require.NoError(t, snap.Setup(ctx))
	_, err = snap.Refresh(ctx)
	require.NoError(t, err)

	ins, err := incremental.NewInserter(b.Source, b.Dest, replication.T("public", "i"), &incremental.Config{Options: opts, Control: "at"})
	require.NoError(t, err)
	require.NoError(t, ins.Setup(ctx))
	_, err = ins.Refresh(ctx)
	require.NoError(t, err)

	d, err := dml.New(b.Source, b.Dest, replication.T("public", "d"), &dml.Config{Options: opts})
	require.NoError(t, err)
	require.NoError(t, d.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE d SET v = 'w' WHERE id = 3`)
	_, err = d.Refresh(ctx)
	require.NoError(t, err)

	for _, name := range []string{"REFRESH SNAP: PUBLIC.S", "REFRESH INSERTER: PUBLIC.I", "REFRESH DML: PUBLIC.D"} {
		jobs, err := log.ShowJob(ctx, name, 1)
		require.NoError(t, err)
		require.Len(t, jobs, 1, name)
		require.NotZero(t, jobs[0].PID, "%s recorded no backend", name)
		require.Equal(t, "OK", jobs[0].Status, name)
		require.WithinDuration(t, time.Now(), jobs[0].End, time.Minute)
	}
}
