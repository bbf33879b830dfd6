package incremental_test

import (
	"bytes"
	"context"
	"log/slog"
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
	f.insert(t, 1, 10)
	log := &recordingLog{}
	cfg := f.cfg()
	cfg.JobLog = log
	r := f.setup(t, cfg)
	f.insert(t, 11, 20)

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
	waiting := f.rep(t, cfg)
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
	f.same(t, r.Dest())
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
			f.insert(t, 1, 10)
			r := f.setup(t, f.cfg())
			require.NoError(t, r.Destroy(ctx, &replication.DestroyOptions{KeepTable: keep}))
			require.Equal(t, keep, scalar[bool](t, f.b.Dest, `SELECT to_regclass('public.items') IS NOT NULL`))
			if keep {
				f.same(t, r.Dest())
			}
			require.Zero(t, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`))
			_, err := r.Refresh(ctx)
			require.ErrorIs(t, err, replication.ErrNotManaged)
			require.ErrorIs(t, r.Destroy(ctx, nil), replication.ErrNotManaged)
		})
	}
}

// TestAdoptExisting: an existing destination table is refused, unless
// Options.AdoptDest: then it is taken as it is and the job starts above its
// highest control value.
func TestAdoptExisting(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(t, 1, 30)
		r := f.setup(t, f.cfg())
		require.NoError(t, r.Destroy(context.Background(), &replication.DestroyOptions{KeepTable: true}))
		pgtest.MustExec(t, f.b.Dest, `DELETE FROM items WHERE id > 20`)
		f.insert(t, 31, 40)

		require.ErrorIs(t, f.rep(t, f.cfg()).Setup(context.Background()), replication.ErrExists)
		adopt := f.cfg()
		adopt.AdoptDest = true
		r = f.setup(t, adopt)
		want := scalar[string](t, f.b.Dest, `SELECT max(ctl)::text FROM items`)
		require.EqualValues(t, 20, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM items`), "nothing pulled into an existing table")
		res := f.refresh(t, r)
		require.EqualValues(t, 20, res.Rows(), "rows above its highest control value (%s) are pulled", want)
		f.same(t, r.Dest())
	})
}

// TestJobIdentity: a Config that differs from the job's setup, a
// replicator of the wrong kind, a second setup, and a repull range of the
// wrong type are refused.
func TestJobIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, modes[1])
	f.insert(t, 1, 10)
	r := f.setup(t, f.cfg())

	other := f.cfg()
	other.Control = "id"
	_, err := f.rep(t, other).Refresh(ctx)
	var oe *replication.OptionError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Config.Control", oe.Field)

	other = f.cfg()
	other.Columns = []string{"id", "ctl"}
	_, err = f.rep(t, other).Refresh(ctx)
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Options.Columns", oe.Field)

	u, err := incremental.NewUpdater(f.b.Source, f.b.Dest, f.src, f.cfg())
	require.NoError(t, err)
	_, err = u.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrWrongKind)

	err = f.rep(t, f.cfg()).Setup(ctx)
	require.ErrorIs(t, err, replication.ErrExists)
	require.EqualValues(t, 1, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`))
	f.same(t, r.Dest())

	_, err = r.RepullRange(ctx, incremental.TimeValue(time.Now()), incremental.Value{})
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "start", oe.Field)
}

// TestOpen: a worker rebuilds the job from the catalog alone.
func TestOpen(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		ctx := context.Background()
		f := newFixture(t, m)
		f.insert(t, 1, 20)
		cfg := f.cfg()
		cfg.Columns = []string{"id", "ctl", "payload"}
		cfg.Condition = "n <> 2"
		cfg.Dest = replication.T("public", "copy")
		f.setup(t, cfg)
		f.insert(t, 21, 40)
		if m.updater {
			f.update(t, 1, 5, 100)
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
		f.sameQuery(t, "SELECT id, ctl, payload FROM items WHERE n <> 2", "SELECT * FROM copy")
		require.Equal(t, replication.LevelOK, log.last().level)

		_, err = incremental.Open(ctx, f.b.Source, f.b.Dest, replication.T("public", "nope"), nil)
		require.ErrorIs(t, err, replication.ErrNotManaged)
	})
}

// TestLeastPrivilege: the source role needs only SELECT on the table (also
// in late-commit mode); the destination role needs no superuser either.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, modes[2])
	f.withDefaultControl(t, 1)
	insertDefault(t, f.b.Source, 1, 10)
	reader := f.b.CreateRole(t)
	pgtest.MustExec(t, f.b.Source, `GRANT SELECT ON items TO `+q(reader.Name))
	writer := f.b.CreateRole(t)
	pgtest.MustExec(t, f.b.Dest, `GRANT CREATE ON DATABASE `+q(f.b.DestDB)+` TO `+q(writer.Name))
	pgtest.MustExec(t, f.b.Dest, `GRANT CREATE, USAGE ON SCHEMA public TO `+q(writer.Name))
	source := pgtest.Pool(t, f.b.DSN(f.b.SourceDB, reader))
	dest := pgtest.Pool(t, f.b.DSN(f.b.DestDB, writer))
	cfg := f.cfg()
	cfg.LateCommit = true
	r, err := incremental.NewUpdater(source, dest, f.src, cfg)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	insertDefault(t, f.b.Source, 11, 20)
	pgtest.MustExec(t, f.b.Source, `UPDATE items SET payload = 'u', ctl = DEFAULT WHERE id <= 3`)
	_, err = r.Refresh(ctx)
	require.NoError(t, err)
	f.same(t, r.Dest())
	require.NotContains(t, scalar[string](t, f.b.Dest, `SELECT conninfo FROM mimeo.sources`), reader.Password,
		"the catalog keeps no password")
}

// TestPartitionedSource: a partitioned source table, with its partitioned
// indexes, in late-commit mode (which reads xmin through the parent).
func TestPartitionedSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `CREATE TABLE parts (id bigint, ctl timestamptz NOT NULL DEFAULT clock_timestamp(), v text, PRIMARY KEY (id))
		PARTITION BY RANGE (id)`)
	pgtest.MustExec(t, b.Source, `CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (100)`)
	pgtest.MustExec(t, b.Source, `CREATE TABLE parts_2 PARTITION OF parts FOR VALUES FROM (100) TO (1000)`)
	pgtest.MustExec(t, b.Source, `CREATE INDEX ON parts (ctl)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO parts (id, v) SELECT g, 'a' FROM generate_series(1, 150) g`)
	r, err := incremental.NewUpdater(b.Source, b.Dest, replication.T("public", "parts"), &incremental.Config{
		Control: "ctl", Boundary: new(time.Duration(0)), LateCommit: true,
	})
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE parts SET v = 'b', ctl = DEFAULT WHERE id % 10 = 0`)
	pgtest.MustExec(t, b.Source, `INSERT INTO parts (id, v) SELECT g, 'c' FROM generate_series(151, 200) g`)
	res, err := r.Refresh(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 15, res.Updated)
	require.EqualValues(t, 50, res.Inserted)
	require.Equal(t, pgtest.Rows(t, b.Source, "SELECT * FROM parts"), pgtest.Rows(t, b.Dest, "SELECT * FROM parts"))
	require.Equal(t, []string{"(parts_ctl_idx)", "(parts_pkey)"}, pgtest.Rows(t, b.Dest,
		`SELECT relname FROM pg_class WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'parts'::regclass)`))
}

// TestLogger: a run reports its result to the logger, as every kind does
// (replication.Run's event: the operation as message, the same keys).
func TestLogger(t *testing.T) {
	t.Parallel()
	f := newFixture(t, modes[1])
	f.insert(t, 1, 10)
	var buf bytes.Buffer
	cfg := f.cfg()
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	r := f.setup(t, cfg)
	f.insert(t, 11, 12)
	f.refresh(t, r)
	require.Contains(t, buf.String(), `level=INFO msg=refresh kind=inserter_serial dest_schema=public dest_table=items rows=2 bytes=`)
	require.Contains(t, buf.String(), `level=INFO msg=setup kind=inserter_serial dest_schema=public dest_table=items`)
}
