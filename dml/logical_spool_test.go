package dml_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// spoolTwins are two jobs of one source table with logical capture: one
// read through a spool, one straight from its slot. Whatever the spool
// does, both destinations must end up the same, row for row, also the
// rows logdel keeps deleted and the time it stamps them with.
type spoolTwins struct {
	b              *pgtest.Bundle
	spooled, plain *dml.Replicator
	cfg            *dml.Config
	v              dml.Variant
	// apart: the two jobs applied changes up to different positions, so
	// that logdel may keep different deleted rows (a key marked deleted,
	// then live again, then moved away keeps its mark only when its live
	// row was never applied); only the live rows are compared then.
	apart bool
}

func newSpoolTwins(t *testing.T, v dml.Variant, cfg dml.Config, rowBytes int) *spoolTwins {
	t.Helper()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`)
	tw := &spoolTwins{b: b, v: v}
	cfg.Capture = dml.CaptureLogical
	cfg.Dest = replication.T("public", "spooled")
	tw.cfg = &cfg
	tw.spooled = tw.open(t, b.Source, b.Dest)
	dml.SetSpoolHooks(tw.spooled, rowBytes, nil, nil)
	// SpoolOnce stands for a running Spool.
	dml.SetSpooling(tw.spooled, true)
	plain := cfg
	plain.Dest = replication.T("public", "plain")
	var err error
	tw.plain, err = dml.NewVariant(b.Source, b.Dest, accounts, &plain, v)
	require.NoError(t, err)
	require.NoError(t, tw.spooled.Setup(context.Background()))
	require.NoError(t, tw.plain.Setup(context.Background()))
	return tw
}

// open returns the spooled job on the given pools.
func (tw *spoolTwins) open(t *testing.T, source, dest *pgxpool.Pool) *dml.Replicator {
	t.Helper()
	r, err := dml.NewVariant(source, dest, accounts, tw.cfg, tw.v)
	require.NoError(t, err)
	return r
}

// spool runs spool reads until one leaves nothing in the slot.
func (tw *spoolTwins) spool(t *testing.T) {
	t.Helper()
	for n := 0; ; n++ {
		require.Less(t, n, 100)
		more, err := dml.SpoolOnce(context.Background(), tw.spooled)
		require.NoError(t, err)
		if !more {
			return
		}
	}
}

// converge reads the slot into the spool, refreshes both jobs until
// neither has more to apply, and compares them with each other and with
// the source.
func (tw *spoolTwins) converge(t *testing.T) {
	t.Helper()
	tw.spool(t)
	refreshUntilDone(t, tw.spooled)
	refreshUntilDone(t, tw.plain)
	if !tw.apart || tw.v == dml.Plain {
		require.Equal(t, pgtest.Rows(t, tw.b.Dest, `SELECT * FROM plain`), pgtest.Rows(t, tw.b.Dest, `SELECT * FROM spooled`))
	}
	live := `SELECT * FROM spooled`
	if tw.v == dml.LogDeletes {
		live = `SELECT id, owner, balance, note, tags, seen FROM spooled WHERE mimeo_source_deleted IS NULL`
	}
	requireSame(t, tw.b, `SELECT * FROM accounts`, live)
}

// spoolRows counts the rows of the spooled job's spool table, -1 when
// there is none.
func (tw *spoolTwins) spoolRows(t *testing.T) int {
	t.Helper()
	var table *string
	require.NoError(t, tw.b.Dest.QueryRow(context.Background(),
		`SELECT max(schemaname || '.' || tablename) FROM pg_tables WHERE tablename LIKE 'logical\_spool\_%'`).Scan(&table))
	if table == nil {
		return -1
	}
	var n int
	require.NoError(t, tw.b.Dest.QueryRow(context.Background(), `SELECT count(*) FROM `+*table).Scan(&n))
	return n
}

// change makes round n of changes to accounts: updates in transactions of
// their own and in one of many rows, a key moved, deletes, inserts, and a
// key deleted and inserted again.
func change(t *testing.T, db replication.DB, n int) {
	t.Helper()
	for i := range 5 {
		pgtest.MustExec(t, db, fmt.Sprintf(`UPDATE accounts SET balance = balance + 1, owner = 'r%d' WHERE id %% 7 = %d`, n, i))
	}
	pgtest.MustExec(t, db, fmt.Sprintf(`UPDATE accounts SET note = repeat('n%d', id %% 5) WHERE id %% 2 = 0`, n))
	pgtest.MustExec(t, db, fmt.Sprintf(`UPDATE accounts SET id = id + 1000 WHERE id = (SELECT min(id) FROM accounts WHERE id %% 11 = %d)`, n%11))
	pgtest.MustExec(t, db, fmt.Sprintf(`DELETE FROM accounts WHERE id %% 13 = %d`, n%13))
	pgtest.MustExec(t, db, fmt.Sprintf(`INSERT INTO accounts SELECT g, 'i%d', g, NULL, '{"a": 1}', now() FROM generate_series(%d, %d) g`, n, 200+n*10, 205+n*10))
	pgtest.MustExec(t, db, `DELETE FROM accounts WHERE id = 50`)
	pgtest.MustExec(t, db, fmt.Sprintf(`INSERT INTO accounts VALUES (50, 'back%d', 5, NULL, NULL, NULL)`, n))
}

// TestLogicalSpool: changes read into the spool by two spool reads (in
// spool rows of a few hundred bytes, which cut transactions), a TRUNCATE
// among them, are applied by one refresh exactly as a job that reads its
// slot alone applies them, for dml and logdel. While a Spool runs (here:
// as if one ran), a refresh applies the spool alone: changes made after
// the last spool read wait for the next one, and the refresh reports the
// age of the read as its lag. With no Spool running (stale), a refresh
// reads the slot after the spool and applies those changes too; either
// way the spool is emptied. A spool read moves the slot past the WAL
// written for other tables, and Destroy drops the spool.
func TestLogicalSpool(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, stale := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stale=%v", v.Label(), stale), func(t *testing.T) {
				t.Parallel()
				tw := newSpoolTwins(t, v, dml.Config{ChunkSize: 7}, 300)
				ctx := context.Background()
				require.Equal(t, -1, tw.spoolRows(t), "a job has no spool before it is read")
				change(t, tw.b.Source, 1)
				tw.spool(t)
				first := tw.spoolRows(t)
				require.Greater(t, first, 5)
				pgtest.MustExec(t, tw.b.Source, `TRUNCATE accounts`)
				pgtest.MustExec(t, tw.b.Source, `INSERT INTO accounts SELECT g, 't' || g, g, NULL, NULL, NULL FROM generate_series(1, 60) g`)
				change(t, tw.b.Source, 2)
				tw.spool(t)
				require.Greater(t, tw.spoolRows(t), first)
				spooled := pgtest.Rows(t, tw.b.Source, `SELECT * FROM accounts`)
				change(t, tw.b.Source, 3)
				dml.SetSpooling(tw.spooled, !stale)
				res := refresh(t, tw.spooled)
				require.False(t, res.More)
				require.Equal(t, 0, tw.spoolRows(t))
				live := `SELECT * FROM spooled`
				if v == dml.LogDeletes {
					live = `SELECT id, owner, balance, note, tags, seen FROM spooled WHERE mimeo_source_deleted IS NULL`
				}
				if stale {
					require.Equal(t, pgtest.Rows(t, tw.b.Source, `SELECT * FROM accounts`), pgtest.Rows(t, tw.b.Dest, live))
					require.Zero(t, res.SyncLag)
				} else {
					require.Equal(t, spooled, pgtest.Rows(t, tw.b.Dest, live), "applied up to the last spool read")
					require.Greater(t, res.SyncLag, time.Duration(0))
					tw.apart = true
				}
				tw.converge(t)
				require.Equal(t, 0, tw.spoolRows(t))

				// Unrelated WAL: a spool read with nothing to spool confirms it.
				pgtest.MustExec(t, tw.b.Source, `CREATE TABLE other AS SELECT g AS x, repeat('x', 200) AS pad FROM generate_series(1, 5000) g`)
				var written string
				require.NoError(t, tw.b.Source.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&written))
				tw.spool(t)
				require.Equal(t, 0, tw.spoolRows(t))
				h, err := tw.spooled.SlotHealth(ctx)
				require.NoError(t, err)
				var behind bool
				require.NoError(t, tw.b.Source.QueryRow(ctx, `SELECT confirmed_flush_lsn < $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2`,
					written, h.Slot).Scan(&behind))
				require.False(t, behind, "the slot is confirmed past the unrelated WAL")

				change(t, tw.b.Source, 4)
				tw.spool(t)
				require.NoError(t, tw.spooled.Destroy(ctx, nil))
				require.Equal(t, -1, tw.spoolRows(t))
			})
		}
	}
}

// TestLogicalSpoolBatchLimit: refreshes cut by a batch limit inside
// spooled transactions, also inside one transaction of a hundred changes
// spread over many spool rows, with spool reads between them that add to
// the spool, converge to the same rows as the job without a spool.
func TestLogicalSpoolBatchLimit(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		t.Run(v.Label(), func(t *testing.T) {
			t.Parallel()
			tw := newSpoolTwins(t, v, dml.Config{ChunkSize: 5, Options: replication.Options{BatchLimit: 13}}, 200)
			pgtest.MustExec(t, tw.b.Source, `UPDATE accounts SET balance = -balance`)
			change(t, tw.b.Source, 1)
			tw.spool(t)
			for round := 2; round < 6; round++ {
				res := refresh(t, tw.spooled)
				require.True(t, res.More)
				change(t, tw.b.Source, round)
				tw.spool(t)
			}
			res := refresh(t, tw.spooled)
			require.True(t, res.More)
			tw.converge(t)
			require.Equal(t, 0, tw.spoolRows(t))
		})
	}
}

// TestLogicalSpoolCrashes: a spool read whose source or destination
// session is terminated before or after its destination commit (after:
// the slot is not confirmed), and a refresh of the spool cut short before
// or after the commit of its second piece, leave a job that converges to
// the same rows as the job without a spool.
func TestLogicalSpoolCrashes(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, stage := range []string{"spool", "refresh"} {
			for _, when := range []string{"before commit", "after commit"} {
				for _, side := range []string{"stream", "dest"} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", v.Label(), stage, when, side), func(t *testing.T) {
						t.Parallel()
						tw := newSpoolTwins(t, v, dml.Config{ChunkSize: 10}, 500)
						ctx := context.Background()
						change(t, tw.b.Source, 1)
						tw.spool(t)
						change(t, tw.b.Source, 2)
						var calls atomic.Int32
						kill := func(_ context.Context, p dml.Phase) error {
							if stage == "refresh" && calls.Add(1) < 2 {
								return nil
							}
							terminate(t, tw.b, side, p)
							return errCrash
						}
						var err error
						if stage == "spool" {
							if when == "before commit" {
								dml.SetSpoolHooks(tw.spooled, 500, kill, nil)
							} else {
								dml.SetSpoolHooks(tw.spooled, 500, nil, kill)
							}
							_, err = dml.SpoolOnce(ctx, tw.spooled)
						} else {
							if when == "before commit" {
								dml.SetHooks(tw.spooled, nil, kill, nil)
							} else {
								dml.SetHooks(tw.spooled, nil, nil, kill)
							}
							_, err = tw.spooled.Refresh(ctx)
						}
						require.ErrorIs(t, err, errCrash)
						// A new process, on new pools.
						tw.spooled = tw.open(t, pgtest.Pool(t, tw.b.SourceDSN), pgtest.Pool(t, tw.b.DestDSN))
						dml.SetSpoolHooks(tw.spooled, 500, nil, nil)
						dml.SetSpooling(tw.spooled, true)
						change(t, tw.b.Source, 3)
						tw.spool(t)
						change(t, tw.b.Source, 4)
						tw.converge(t)
						require.Equal(t, 0, tw.spoolRows(t))
						res, err := tw.spooled.Refresh(ctx)
						require.NoError(t, err)
						require.Zero(t, res.Inserted+res.Updated+res.Deleted, "nothing is applied twice")
					})
				}
			}
		}
	}
}

// TestLogicalSpoolConcurrent: Spool runs while three writers change the
// table and refreshes run one after another; each waits its turn, none
// fails, and once the writers and Spool stop, the destination holds the
// source's rows.
func TestLogicalSpoolConcurrent(t *testing.T) {
	t.Parallel()
	tw := newSpoolTwins(t, dml.Plain, dml.Config{ChunkSize: 50, Logical: dml.LogicalConfig{PollInterval: 5 * time.Millisecond}}, 0)
	tw.spooled = tw.open(t, tw.b.Source, tw.b.Dest) // asks the server whether Spool runs
	ctx, cancel := context.WithCancel(context.Background())
	spoolDone := make(chan error, 1)
	go func() { spoolDone <- tw.spooled.Spool(ctx) }()
	var wg sync.WaitGroup
	var writes atomic.Int64
	writeCtx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for writeCtx.Err() == nil {
				id := rng.IntN(300) + 1
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = tw.b.Source.Exec(writeCtx, `UPDATE accounts SET balance = balance + 1 WHERE id = $1`, id)
				case 1:
					_, err = tw.b.Source.Exec(writeCtx, `DELETE FROM accounts WHERE id = $1`, id)
				default:
					_, err = tw.b.Source.Exec(writeCtx, `INSERT INTO accounts VALUES ($1, 'w', 0, NULL, NULL, NULL) ON CONFLICT (id) DO NOTHING`, id)
				}
				if err != nil && writeCtx.Err() == nil {
					t.Errorf("writer: %v", err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	// Counted, not timed: the refreshes go on, with the writers and Spool
	// running, until five have run and each saw new writes since the one
	// before; a slow machine takes longer, never fails for it.
	refreshes := 0
	last := int64(0)
	for refreshes < 5 {
		for writes.Load() == last && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
		last = writes.Load()
		refresh(t, tw.spooled)
		refreshes++
	}
	stopWriters()
	wg.Wait()
	cancel()
	require.NoError(t, <-spoolDone)
	tw.converge(t)
	t.Logf("%d refreshes while Spool ran and %d writes", refreshes, writes.Load())
}

// TestSpoolWrongCapture: Spool of a job with the trigger capture fails
// with ErrWrongKind and makes nothing.
func TestSpoolWrongCapture(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(context.Background()))
	require.ErrorIs(t, r.Spool(context.Background()), replication.ErrWrongKind)
	require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT tablename FROM pg_tables WHERE tablename LIKE 'logical\_spool\_%'`))
}

// TestSpoolRunning: refreshes apply the spool alone exactly while a Spool
// of the job runs: a change made after Spool's first read (its poll
// interval is an hour) waits while Spool runs, and is applied by the
// first refresh after it returned.
func TestSpoolRunning(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, &dml.Config{Capture: dml.CaptureLogical, Logical: dml.LogicalConfig{PollInterval: time.Hour}})
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL)`)
	spoolCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.Spool(spoolCtx) }()
	// The first read has committed once the spool table exists.
	deadline := time.Now().Add(time.Minute)
	for len(pgtest.Rows(t, b.Dest, `SELECT tablename FROM pg_tables WHERE tablename LIKE 'logical\_spool\_%'`)) == 0 {
		require.True(t, time.Now().Before(deadline), "Spool made no spool")
		time.Sleep(10 * time.Millisecond)
	}
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (2, 'b', 2, NULL, NULL, NULL)`)
	res := refresh(t, r)
	require.Equal(t, int64(1), res.Inserted)
	require.Greater(t, res.SyncLag, time.Duration(0))
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM accounts`))
	stop()
	require.NoError(t, <-done)
	res = refresh(t, r)
	require.Equal(t, int64(1), res.Inserted)
	require.Zero(t, res.SyncLag)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}

// TestSpoolOnePerJob: while a Spool of a job runs, a second one, through
// another replicator on other pools as another process would, returns
// ErrLocked at once and changes nothing; once the first has returned, a
// Spool runs again, and refreshes in between apply every change.
func TestSpoolOnePerJob(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	cfg := &dml.Config{Capture: dml.CaptureLogical, Logical: dml.LogicalConfig{PollInterval: 10 * time.Millisecond}}
	r := newDML(t, b, accounts, cfg)
	require.NoError(t, r.Setup(ctx))
	other, err := dml.New(pgtest.Pool(t, b.SourceDSN), pgtest.Pool(t, b.DestDSN), accounts, cfg)
	require.NoError(t, err)

	spoolCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.Spool(spoolCtx) }()
	deadline := time.Now().Add(time.Minute)
	for len(pgtest.Rows(t, b.Dest, `SELECT tablename FROM pg_tables WHERE tablename LIKE 'logical\_spool\_%'`)) == 0 {
		require.True(t, time.Now().Before(deadline), "Spool made no spool")
		time.Sleep(10 * time.Millisecond)
	}
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL)`)
	// Returns at once; a second Spool that ran would return nil when its
	// context ends.
	otherCtx, otherStop := context.WithTimeout(ctx, 20*time.Second)
	err = other.Spool(otherCtx)
	otherStop()
	require.ErrorIs(t, err, replication.ErrLocked)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, accounts, te.Table)
	require.Contains(t, err.Error(), "one per job")
	refreshUntil(t, r, func() bool { return len(pgtest.Rows(t, b.Dest, `SELECT id FROM accounts`)) == 1 })

	stop()
	require.NoError(t, <-done)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 2 WHERE id = 1`)
	spoolCtx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- other.Spool(spoolCtx) }()
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (2, 'b', 2, NULL, NULL, NULL)`)
	refreshUntil(t, r, func() bool { return len(pgtest.Rows(t, b.Dest, `SELECT id FROM accounts`)) == 2 })
	stop()
	require.NoError(t, <-done)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts ORDER BY id`, `SELECT * FROM accounts ORDER BY id`)
}

// refreshUntil refreshes r until ok holds, for at most a minute.
func refreshUntil(t *testing.T, r *dml.Replicator, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		refresh(t, r)
		if ok() {
			return
		}
		require.True(t, time.Now().Before(deadline), "the refreshes did not catch up")
		time.Sleep(20 * time.Millisecond)
	}
}
