package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// checksumSQL sums a hash of every row's text: the view and the source
// give the same figure exactly when they hold the same rows.
const checksumSQL = `SELECT count(*)::text || '/' || COALESCE(sum(hashtext(l::text)::int8), 0)::text FROM %s l`

func TestSnapshotReadersNeverSeePartial(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.ledger (id int PRIMARY KEY, v int, pad text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.ledger SELECT g, 0, repeat('x', 50) FROM generate_series(1, 20000) g`)
	s := b.newSnap(t, "public.ledger", nil)
	require.NoError(t, s.Setup(ctx))

	valid := map[string]bool{scalar[string](t, b.Source, fmt.Sprintf(checksumSQL, "public.ledger")): true}
	var mu sync.Mutex
	seen := map[string]int{}
	var readErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var got string
				err := b.Dest.QueryRow(ctx, fmt.Sprintf(checksumSQL, "public.ledger")).Scan(&got)
				mu.Lock()
				if err != nil && readErr == nil {
					readErr = err
				}
				seen[got]++
				mu.Unlock()
			}
		}()
	}
	const rounds = 8
	for r := 1; r <= rounds; r++ {
		// Each round changes values and the number of rows.
		b.change(t, `UPDATE public.ledger SET v = $1 WHERE id % 3 = $1 % 3`, r)
		b.change(t, `DELETE FROM public.ledger WHERE id > 20000 - $1 * 500`, r)
		valid[scalar[string](t, b.Source, fmt.Sprintf(checksumSQL, "public.ledger"))] = true
		res, err := s.Refresh(ctx)
		require.NoError(t, err)
		require.False(t, res.Skipped)
		// Let the readers see this copy for a while.
		deadline := time.Now().Add(2 * time.Second)
		for {
			mu.Lock()
			n := seen[scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.ledger"))]
			mu.Unlock()
			if n >= 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	require.NoError(t, readErr)
	total := 0
	for got, n := range seen {
		require.True(t, valid[got], "a reader saw %q (%d times), which is no complete copy", got, n)
		total += n
	}
	require.GreaterOrEqual(t, len(seen), rounds, "the readers saw the copies change")
	t.Logf("%d reads, %d distinct complete copies seen", total, len(seen))
}

// bigSource makes a source table large enough that a COPY of it lasts long
// enough to be interrupted.
func bigSource(t *testing.T, b *bundle) {
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.big (id int PRIMARY KEY, grp int, pad text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.big SELECT g, g % 100, repeat(md5(g::text), 4) FROM generate_series(1, 400000) g`)
}

// refreshCutMidCopy runs refresh and, once its COPY on side ("source":
// the COPY TO there, "dest": the COPY FROM) has moved rows, terminates
// that COPY's backend; it returns what refresh returned.
func refreshCutMidCopy(t *testing.T, b *bundle, side string, refresh func() error) error {
	t.Helper()
	done := make(chan struct{})
	var refreshErr error
	go func() {
		defer close(done)
		refreshErr = refresh()
	}()
	db, command := b.SourceDB, "COPY TO"
	if side == "dest" {
		db, command = b.DestDB, "COPY FROM"
	}
	ctx := context.Background()
	for {
		select {
		case <-done:
			t.Fatalf("the refresh ended before its %s could be interrupted", command)
		default:
		}
		var pid int32
		err := b.Dest.QueryRow(ctx, `SELECT pid FROM pg_stat_progress_copy WHERE datname = $1 AND command = $2 AND tuples_processed > 0`,
			db, command).Scan(&pid)
		if err == nil {
			var ok bool
			require.NoError(t, b.Dest.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ok)) // waits until it is gone, with its locks
			require.True(t, ok)
			<-done
			return refreshErr
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSnapshotCrashMidCopy(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"source", "dest"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			bigSource(t, b)
			s := b.newSnap(t, "public.big", nil)
			require.NoError(t, s.Setup(ctx))
			before := scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.big"))
			catalogRow := func() string {
				return scalar[string](t, b.Dest, `SELECT config::text || ' ' || state::text FROM mimeo.jobs WHERE dest_table = 'big'`)
			}
			catBefore := catalogRow()
			indexes := func() []string {
				return strs(t, b.Dest, `SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid IN ('public.big_snap1'::regclass, 'public.big_snap2'::regclass)`)
			}
			ixBefore := indexes()
			b.change(t, `UPDATE public.big SET grp = -grp WHERE id % 7 = 0`)

			refreshErr := refreshCutMidCopy(t, b, side, func() error {
				_, err := s.Refresh(ctx)
				return err
			})
			require.Error(t, refreshErr)
			t.Logf("refresh failed as expected: %v", refreshErr)

			// The previous copy still serves, the job's options and state
			// are as they were, nothing half-made is left.
			require.Equal(t, before, scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.big")))
			require.Equal(t, "snap1", b.active(t, "public.big"))
			require.Equal(t, catBefore, catalogRow())
			require.Equal(t, ixBefore, indexes())
			require.Equal(t, 1, scalar[int](t, b.Dest, `SELECT failures FROM mimeo.jobs WHERE dest_table = 'big'`))

			// The next refresh succeeds.
			res, err := s.Refresh(ctx)
			require.NoError(t, err)
			require.False(t, res.Skipped)
			require.Equal(t, scalar[string](t, b.Source, fmt.Sprintf(checksumSQL, "public.big")),
				scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.big")))
			b.same(t, `SELECT * FROM public.big`, "public.big")
			require.Equal(t, 0, scalar[int](t, b.Dest, `SELECT failures FROM mimeo.jobs WHERE dest_table = 'big'`))
		})
	}
}

func TestSnapshotLocked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.busy (id int PRIMARY KEY)`)
	log := &memLog{}
	s := b.newSnap(t, "public.busy", nil)
	require.NoError(t, s.Setup(ctx))

	conn, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	lock, err := replication.AcquireLock(ctx, conn, replication.T("public", "busy"), nil)
	require.NoError(t, err)

	for _, wait := range []*time.Duration{nil, replication.Wait(100 * time.Millisecond)} {
		cfg := snapshotConfig(log)
		cfg.LockWait = wait
		res, err := b.newSnap(t, "public.busy", cfg).Refresh(ctx)
		require.ErrorIs(t, err, replication.ErrLocked)
		var te *replication.TableError
		require.True(t, errors.As(err, &te))
		require.Equal(t, replication.T("public", "busy"), te.Table)
		require.True(t, res.Skipped)
	}
	require.Equal(t, []string{
		"Refresh Snap: public.busy [WARNING] WARNING: WARNING",
		"Refresh Snap: public.busy [WARNING] WARNING: WARNING",
	}, log.summary())
	require.NoError(t, lock.Release(ctx))
	_, err = s.Refresh(ctx)
	require.NoError(t, err)
}

func TestSnapshotSwapWaitsForReadersUnderLockTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.quotes (id int PRIMARY KEY, px int)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.quotes SELECT g, g FROM generate_series(1, 100) g`)
	require.NoError(t, b.newSnap(t, "public.quotes", nil).Setup(ctx))
	before := scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.quotes"))

	// A long reader holds the view.
	reader, err := b.Dest.Begin(ctx)
	require.NoError(t, err)
	defer reader.Rollback(ctx)
	_, err = reader.Exec(ctx, `SELECT count(*) FROM public.quotes`)
	require.NoError(t, err)
	b.change(t, `UPDATE public.quotes SET px = -px`)

	// Without retries the swap gives up after its lock timeout, and the old
	// copy keeps serving.
	cfg := &snapshot.Config{Options: replication.Options{DDLLockTimeout: 20 * time.Millisecond, DDLRetries: -1}}
	_, err = b.newSnap(t, "public.quotes", cfg).Refresh(ctx)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "55P03", pgErr.Code)
	require.Equal(t, before, scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.quotes")))

	// With retries it waits for the reader, letting other readers through
	// between its attempts.
	cfg.DDLRetries = 50
	done := make(chan error, 1)
	go func() {
		_, err := b.newSnap(t, "public.quotes", cfg).Refresh(ctx)
		done <- err
	}()
	// Wait until the refresh has tried and backed off at least once, read
	// the view meanwhile, then let the long reader go.
	require.Eventually(t, func() bool {
		return scalar[int](t, b.Dest, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LOCK TABLE%'`, b.DestDB) > 0
	}, 10*time.Second, 2*time.Millisecond)
	require.Equal(t, before, scalar[string](t, b.Dest, fmt.Sprintf(checksumSQL, "public.quotes")))
	require.NoError(t, reader.Rollback(ctx))
	require.NoError(t, <-done)
	b.same(t, `SELECT * FROM public.quotes`, "public.quotes")
}
