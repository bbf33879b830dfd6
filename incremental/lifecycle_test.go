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

// TestLocked: a refresh of a table whose lock another session holds is
// skipped and logged as a WARNING job; with a lock wait it runs once the
// lock is free.
func TestLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, modes[1])
	f.insert(1, 10)
	log := &recordingLog{}
	cfg := f.cfg()
	cfg.JobLog = log
	r := f.setup(cfg)
	f.insert(11, 20)

	conn, err := f.b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	lock, err := replication.AcquireLock(ctx, conn, r.Dest(), nil)
	require.NoError(t, err)

	res, err := r.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrLocked)
	require.True(t, res.Skipped)
	require.Equal(t, replication.LevelWarning, log.last().level)
	require.Equal(t, "Refresh Inserter: public.items", log.last().name)
	require.EqualValues(t, 10, scalar[int64](t, f.b.Dest, "SELECT count(*) FROM items"))

	cfg.LockWait = replication.Wait(time.Minute)
	waiting := f.rep(cfg)
	done := make(chan error, 1)
	go func() {
		_, err := waiting.Refresh(ctx)
		done <- err
	}()
	// Wait until the refresh waits on the lock, then let it go.
	deadline := time.Now().Add(30 * time.Second)
	for !scalar[bool](t, f.b.Dest, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`) {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, lock.Release(ctx))
	require.NoError(t, <-done)
	f.same(r.Dest())
	require.Equal(t, replication.LevelOK, log.last().level)
}

// TestDestroy: destroy drops the table, or keeps it; the job is gone
// either way.
func TestDestroy(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "drop", true: "keep"}[keep], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, modes[3])
			f.insert(1, 10)
			r := f.setup(f.cfg())
			require.NoError(t, r.Destroy(ctx, &replication.DestroyOptions{KeepTable: keep}))
			require.Equal(t, keep, scalar[bool](t, f.b.Dest, `SELECT to_regclass('public.items') IS NOT NULL`))
			if keep {
				f.same(r.Dest())
			}
			require.Zero(t, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`))
			_, err := r.Refresh(ctx)
			require.ErrorIs(t, err, replication.ErrNotManaged)
			require.ErrorIs(t, r.Destroy(ctx, nil), replication.ErrNotManaged)
		})
	}
}

// TestAdoptExisting: an existing destination table is taken as it is; the
// job starts above its highest control value.
func TestAdoptExisting(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(1, 30)
		r := f.setup(f.cfg())
		require.NoError(t, r.Destroy(context.Background(), &replication.DestroyOptions{KeepTable: true}))
		pgtest.MustExec(t, f.b.Dest, `DELETE FROM items WHERE id > 20`)
		f.insert(31, 40)

		r = f.setup(f.cfg())
		want := scalar[string](t, f.b.Dest, `SELECT max(ctl)::text FROM items`)
		require.EqualValues(t, 20, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM items`), "nothing pulled into an existing table")
		res := f.refresh(r)
		require.EqualValues(t, 20, res.Rows(), "rows above its highest control value (%s) are pulled", want)
		f.same(r.Dest())
	})
}

// TestJobIdentity: a Config that differs from the job's setup, a
// replicator of the wrong kind, a second setup, and a repull range of the
// wrong type are refused.
func TestJobIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, modes[1])
	f.insert(1, 10)
	r := f.setup(f.cfg())

	other := f.cfg()
	other.Control = "id"
	_, err := f.rep(other).Refresh(ctx)
	var oe *replication.OptionError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Config.Control", oe.Field)

	other = f.cfg()
	other.Columns = []string{"id", "ctl"}
	_, err = f.rep(other).Refresh(ctx)
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Options.Columns", oe.Field)

	u, err := incremental.NewUpdater(f.b.Source, f.b.Dest, f.src, f.cfg())
	require.NoError(t, err)
	_, err = u.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrWrongKind)

	err = f.rep(f.cfg()).Setup(ctx)
	require.ErrorIs(t, err, replication.ErrExists)
	require.EqualValues(t, 1, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`))
	f.same(r.Dest())

	_, err = r.RepullRange(ctx, incremental.TimeValue(time.Now()), incremental.Value{})
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "start", oe.Field)
}

// TestOpen: a worker rebuilds the job from the catalog alone.
func TestOpen(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		ctx := context.Background()
		f := newFixture(t, m)
		f.insert(1, 20)
		cfg := f.cfg()
		cfg.Columns = []string{"id", "ctl", "payload"}
		cfg.Condition = "n <> 2"
		cfg.Dest = replication.T("public", "copy")
		f.setup(cfg)
		f.insert(21, 40)
		if m.updater {
			f.update(1, 5, 100)
		}
		log := &recordingLog{}
		r, err := incremental.Open(ctx, f.b.Source, f.b.Dest, replication.T("public", "copy"), &incremental.Config{
			Options: replication.Options{JobLog: log},
		})
		require.NoError(t, err)
		if m.updater {
			require.IsType(t, &incremental.Updater{}, r)
		} else {
			require.IsType(t, &incremental.Inserter{}, r)
		}
		_, err = r.Refresh(ctx)
		require.NoError(t, err)
		f.sameQuery("SELECT id, ctl, payload FROM items WHERE n <> 2", "SELECT * FROM copy")
		require.Equal(t, replication.LevelOK, log.last().level)

		_, err = incremental.Open(ctx, f.b.Source, f.b.Dest, replication.T("public", "nope"), nil)
		require.ErrorIs(t, err, replication.ErrNotManaged)
	})
}
