package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// withDefaultControl gives the fixture's control column a default like a
// real table's: clock_timestamp() (time) or a sequence (serial).
func (f *fixture) withDefaultControl(t *testing.T, start int) {
	t.Helper()
	def := "clock_timestamp()"
	if f.m.typ == incremental.Serial {
		pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`CREATE SEQUENCE ctl_seq START %d`, start))
		def = "nextval('ctl_seq')"
	}
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`ALTER TABLE %s ALTER %s SET DEFAULT %s`, f.src.Sanitize(), q(f.ctl), def))
}

// insertDefault inserts keys from..to, one statement per row so that each
// gets a later default control value, on db.
func insertDefault(t *testing.T, db pgtest.Execer, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		pgtest.MustExec(t, db, `INSERT INTO items (id, payload, n) VALUES ($1::int, md5($1::int::text), $1::int % 7)`, i)
	}
}

// openWriter begins a source transaction that writes a row with an early
// control value and stays open: the Inserter's is a new row (key 1000), the
// Updater's an update of key 3. It returns the open transaction.
func (f *fixture) openWriter(t *testing.T) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.b.SourceDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	if f.m.updater {
		_, err = tx.Exec(ctx, `UPDATE items SET payload = 'late', ctl = DEFAULT WHERE id = 3`)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO items (id, payload, n) VALUES (1000, 'late', 0)`)
	}
	require.NoError(t, err)
	return tx
}

// lateRowArrived reports whether the open writer's row is on the
// destination.
func (f *fixture) lateRowArrived(t *testing.T) bool {
	t.Helper()
	return scalar[bool](t, f.b.Dest, `SELECT EXISTS (SELECT 1 FROM items WHERE payload = 'late')`)
}

// TestLateCommit: with boundary 0 in late-commit mode, a row written by a
// transaction that stays open across a refresh, with a control value below
// the pulled maximum, arrives on the next refresh after it commits, once.
func TestLateCommit(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		ctx := context.Background()
		f := newFixture(t, m)
		f.withDefaultControl(t, 1)
		insertDefault(t, f.b.Source, 1, 10)
		cfg := f.cfg()
		cfg.LateCommit = true
		r := f.setup(t, cfg)
		f.same(t, r.Dest())

		late := f.openWriter(t)
		insertDefault(t, f.b.Source, 11, 20)
		res := f.refresh(t, r)
		require.EqualValues(t, 10, res.Inserted)
		require.Empty(t, res.Warnings, "a writer younger than boundary + look-back is no hazard in late-commit mode")
		require.False(t, f.lateRowArrived(t))
		lateBelow := `SELECT (SELECT ctl FROM items WHERE payload = 'late') < (SELECT max(ctl) FROM items WHERE id <= 20)`

		require.NoError(t, late.Commit(ctx))
		require.True(t, scalar[bool](t, f.b.Source, lateBelow), "the late row's control value is below the pulled maximum")
		res = f.refresh(t, r)
		if m.updater {
			require.EqualValues(t, 1, res.Updated)
		} else {
			require.EqualValues(t, 1, res.Inserted)
		}
		require.True(t, f.lateRowArrived(t))
		f.same(t, r.Dest())

		res = f.refresh(t, r)
		require.Zero(t, res.Rows(), "the late row is not pulled twice")
		insertDefault(t, f.b.Source, 21, 25)
		require.EqualValues(t, 5, f.refresh(t, r).Inserted)
		f.same(t, r.Dest())
	})
}

// TestLateCommitOff is the control experiment: without late-commit mode and
// with boundary 0, the same late row is lost, and the refresh that passes
// it by warns about the open transaction.
func TestLateCommitOff(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		ctx := context.Background()
		f := newFixture(t, m)
		f.withDefaultControl(t, 1)
		insertDefault(t, f.b.Source, 1, 10)
		cfg := f.cfg()
		cfg.LongTransaction = time.Microsecond
		log := &recordingLog{}
		cfg.JobLog = log
		r := f.setup(t, cfg)

		late := f.openWriter(t)
		insertDefault(t, f.b.Source, 11, 20)
		res := f.refresh(t, r)
		require.Len(t, res.Warnings, 1)
		require.Contains(t, res.Warnings[0], "source transaction(s) open longer than")
		require.Equal(t, 2, log.last().level, "the job log gets a WARNING job")
		require.NotNil(t, log.last().stepWith("WARNING"))

		require.NoError(t, late.Commit(ctx))
		f.refresh(t, r)
		require.False(t, f.lateRowArrived(t), "without late-commit mode the row committed late is lost")
	})
}

// TestBoundarySerial: a row of a transaction open across a refresh, whose
// control value lies within the boundary (above the refresh's upper bound,
// below the source's maximum), arrives once it commits and the maximum has
// moved past it.
func TestBoundarySerial(t *testing.T) {
	for _, m := range modes {
		if m.typ != incremental.Serial {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, m)
			f.withDefaultControl(t, 1)
			insertDefault(t, f.b.Source, 1, 10) // control values 1..10
			cfg := f.cfg()
			cfg.SerialBoundary = new(int64(5))
			r := f.setup(t, cfg)
			require.Equal(t, "5", *f.lastValue(t, r.Dest()), "setup pulled up to max - boundary")

			late := f.openWriter(t)                           // control value 11
			insertDefault(t, f.b.Source, 11, 13)              // 12..14: max 14, upper 9
			require.EqualValues(t, 4, f.refresh(t, r).Rows()) // 6..9
			require.Equal(t, "9", *f.lastValue(t, r.Dest()))
			require.False(t, f.lateRowArrived(t))

			require.NoError(t, late.Commit(ctx))
			insertDefault(t, f.b.Source, 14, 19) // 15..20: max 20, upper 15
			f.refresh(t, r)
			require.True(t, f.lateRowArrived(t))
			upTo := "SELECT * FROM items WHERE ctl <= 15"
			f.sameQuery(t, upTo, upTo)
		})
	}
}

// TestBoundaryTime: the same for a time boundary, which the source's clock
// moves past: the row committed late arrives once the boundary has passed.
func TestBoundaryTime(t *testing.T) {
	for _, m := range modes {
		if m.typ != incremental.Time {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, m)
			f.withDefaultControl(t, 1)
			insertDefault(t, f.b.Source, 1, 10)
			cfg := f.cfg()
			cfg.Boundary = new(5 * time.Second)
			cfg.LongTransaction = time.Hour
			pgtest.MustExec(t, f.b.Source, `UPDATE items SET ctl = ctl - interval '1 minute'`)
			r := f.setup(t, cfg)
			f.same(t, r.Dest())

			late := f.openWriter(t)
			insertDefault(t, f.b.Source, 11, 13)
			f.refresh(t, r)
			require.Zero(t, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM items WHERE id BETWEEN 11 AND 13`),
				"rows within the boundary are not pulled (if this fails, the refresh ran more than 5 s after the inserts)")
			require.NoError(t, late.Commit(ctx))

			deadline := time.Now().Add(60 * time.Second)
			for !f.lateRowArrived(t) || scalar[int64](t, f.b.Dest, `SELECT count(*) FROM items WHERE id BETWEEN 11 AND 13`) < 3 {
				require.True(t, time.Now().Before(deadline), "the late row did not arrive")
				time.Sleep(200 * time.Millisecond)
				f.refresh(t, r)
			}
			f.same(t, r.Dest())
		})
	}
}
