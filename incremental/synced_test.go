package incremental_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestSetupSyncedBehindTheBoundary: a setup pulls what lies behind the
// boundary, as a refresh does, so the job's data is then at least the
// boundary old; before, setup recorded its own start, and the job read
// as fresher than it was until the boundary had passed. A serial job with
// a serial boundary cannot say when it is synced, nor can an adopted
// table. The default lag thresholds start from the boundary.
func TestSetupSyncedBehindTheBoundary(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	cat := replication.NewCatalog("")
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.timed (id int PRIMARY KEY, ctl timestamptz NOT NULL);
		INSERT INTO public.timed SELECT g, now() - interval '1 hour' FROM generate_series(1, 5) g;
		CREATE TABLE public.serial (id int PRIMARY KEY, ctl bigint NOT NULL);
		INSERT INTO public.serial SELECT g, g FROM generate_series(1, 50) g`)

	boundary := 10 * time.Minute
	r, err := incremental.NewUpdater(b.Source, b.Dest, replication.T("public", "timed"),
		&incremental.Config{Control: "ctl", Boundary: &boundary, IgnoreDST: true})
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	j, err := cat.Job(ctx, b.Dest, replication.T("public", "timed"))
	require.NoError(t, err)
	require.NotNil(t, j.Age)
	require.GreaterOrEqual(t, *j.Age, boundary, "after setup")
	_, err = r.Refresh(ctx)
	require.NoError(t, err)
	j, err = cat.Job(ctx, b.Dest, replication.T("public", "timed"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, *j.Age, boundary, "after a refresh")
	require.Less(t, *j.Age, boundary+time.Minute)
	require.Equal(t, boundary, j.SyncLag)

	// Refreshed every minute, the job is on time: the default thresholds
	// start from the boundary the job keeps by design. Before, its data,
	// always the boundary old, was past the critical threshold of six
	// minutes, and the nagios check and the health handler called it late.
	rs := j.RunSettings()
	rs.Period = time.Minute
	require.NoError(t, cat.SetRunSettings(ctx, b.Dest, replication.T("public", "timed"), rs))
	j, err = cat.Job(ctx, b.Dest, replication.T("public", "timed"))
	require.NoError(t, err)
	lag := j.Lag()
	require.Equal(t, replication.LagOK, lag.Level, "%v old, thresholds %v and %v", *lag.Age, lag.Warning, lag.Critical)
	require.Equal(t, boundary+2*time.Minute, lag.Warning)
	require.Equal(t, boundary+6*time.Minute, lag.Critical)

	five := int64(5)
	s, err := incremental.NewInserter(b.Source, b.Dest, replication.T("public", "serial"),
		&incremental.Config{Control: "ctl", SerialBoundary: &five})
	require.NoError(t, err)
	require.NoError(t, s.Setup(ctx))
	j, err = cat.Job(ctx, b.Dest, replication.T("public", "serial"))
	require.NoError(t, err)
	require.Nil(t, j.SyncedAt, "a serial boundary says nothing of time")
	require.Equal(t, []string{"(45)"}, pgtest.Rows(t, b.Dest, `SELECT count(*) FROM public.serial`))
}
