package dml_test

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// TestUnderLoad runs random inserts, updates and deletes from several
// goroutines while refreshes run over and over; after the writers stop and
// one last refresh, the destination equals the source. For logdel the
// destination also holds exactly the deleted keys, marked.
func TestUnderLoad(t *testing.T) {
	t.Parallel()
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
			v, capture := v, capture
			t.Run(capture.String()+"/"+v.Label(), func(t *testing.T) {
				t.Parallel()
				underLoad(t, v, capture, 3*time.Second)
			})
		}
	}
}

func underLoad(t *testing.T, v dml.Variant, capture dml.Capture, d time.Duration) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	const initial = 2000
	pgtest.MustExec(t, b.Source, `CREATE TABLE busy (id bigint PRIMARY KEY, grp int NOT NULL, val text, n numeric)`)
	pgtest.MustExec(t, b.Source, `ALTER TABLE busy REPLICA IDENTITY FULL`) // logdel's logical capture needs it
	pgtest.MustExec(t, b.Source, `INSERT INTO busy SELECT g, g % 10, md5(g::text), g FROM generate_series(1, $1) g`, initial)
	table := busyTable
	r, err := dml.NewVariant(b.Source, b.Dest, table, &dml.Config{ChunkSize: 300, Capture: capture}, v)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))

	var next atomic.Int64
	next.Store(initial)
	var everMu sync.Mutex
	ever := map[int64]bool{} // every key that existed on the source
	for i := int64(1); i <= initial; i++ {
		ever[i] = true
	}
	moveKeys := v == dml.Plain // logdel: key updates are not deletions; keep the bookkeeping simple

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := func() int64 { return rng.Int63n(next.Load()) + 1 }
				var inserted []int64
				err := pgx.BeginFunc(ctx, b.Source, func(tx pgx.Tx) error {
					n := 1 + rng.Intn(4)
					for i := 0; i < n; i++ {
						var err error
						switch op := rng.Intn(10); {
						case op < 3:
							k := next.Add(1)
							_, err = tx.Exec(ctx, `INSERT INTO busy VALUES ($1, $2, md5(random()::text), $3)`, k, rng.Intn(10), rng.Intn(1000))
							inserted = append(inserted, k)
						case op < 7:
							_, err = tx.Exec(ctx, `UPDATE busy SET val = md5(random()::text), n = n + 1 WHERE id = $1`, key())
						case op < 8:
							_, err = tx.Exec(ctx, `UPDATE busy SET grp = grp + 1 WHERE grp = $1 AND id % 50 = $2`, rng.Intn(10), rng.Intn(50))
						case op < 9 || !moveKeys:
							_, err = tx.Exec(ctx, `DELETE FROM busy WHERE id = $1`, key())
						default:
							k := next.Add(1)
							_, err = tx.Exec(ctx, `UPDATE busy SET id = $2 WHERE id = $1`, key(), k)
						}
						if err != nil {
							return err
						}
					}
					if rng.Intn(20) == 0 {
						return errRollback
					}
					return nil
				})
				// Writers touch rows in random order, so two of them may
				// deadlock; the server then rolls one back, as a writer
				// that gives up would.
				var pgErr *pgconn.PgError
				if err == errRollback || errors.As(err, &pgErr) && pgErr.Code == pgerrcode.DeadlockDetected {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				ops.Add(1)
				everMu.Lock()
				for _, k := range inserted {
					ever[k] = true
				}
				everMu.Unlock()
			}
		}(int64(w))
	}

	timer := time.After(d)
	refreshes := 0
	var maxQueue int64
loop:
	for {
		select {
		case <-timer:
			break loop
		case err := <-errs:
			t.Fatalf("writer: %v", err)
		default:
		}
		_, err := r.Refresh(ctx)
		require.NoError(t, err)
		refreshes++
		if capture == dml.CaptureTrigger {
			st, err := r.QueueStats(ctx)
			require.NoError(t, err)
			maxQueue = max(maxQueue, st.Bytes())
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	res, err := r.Refresh(ctx)
	require.NoError(t, err)
	var st dml.QueueStats
	if capture == dml.CaptureTrigger {
		st, err = r.QueueStats(ctx)
		require.NoError(t, err)
	}
	t.Logf("%s: %d writer transactions, %d refreshes during load, last refresh %v; queue at most %d bytes, now %d entries in %d bytes",
		v.Label(), ops.Load(), refreshes, res, maxQueue, st.Entries(), st.Bytes())
	require.Greater(t, refreshes, 1)
	require.Zero(t, st.Entries())

	if v == dml.Plain {
		requireSame(t, b, `SELECT * FROM busy`, `SELECT * FROM busy`)
		return
	}
	requireSame(t, b, `SELECT * FROM busy`, `SELECT id, grp, val, n FROM busy WHERE mimeo_source_deleted IS NULL`)
	var deleted []any
	present := map[int64]bool{}
	for _, k := range keys(t, b.Source, `SELECT id FROM busy`) {
		present[k] = true
	}
	for k := range ever {
		if !present[k] {
			deleted = append(deleted, k)
		}
	}
	marked := keys(t, b.Dest, `SELECT id FROM busy WHERE mimeo_source_deleted IS NOT NULL`)
	require.ElementsMatch(t, deleted, toAny(marked))
	t.Logf("logdel: %d deleted keys kept", len(marked))
}

var errRollback = &rollback{}

type rollback struct{}

func (*rollback) Error() string { return "rollback on purpose" }

func keys(t *testing.T, db pgtest.Querier, q string) []int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), q)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return out
}

func toAny(ks []int64) []any {
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k
	}
	return out
}
