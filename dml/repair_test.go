package dml_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// TestRepairRangesThenRefreshConverges tampers with the destination
// (rows changed, deleted and added) while changes are still queued on the
// source, repairs the ranges a checksum finds, changes the source again,
// refreshes, and requires the destination to equal the source in full:
// for both captures, for dml and for logdel (whose rows marked deleted in
// the repaired ranges stay, unless their key is live again). The repair
// leaves the queue (or the slot) alone.
func TestRepairRangesThenRefreshConverges(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
			v, capture := v, capture
			name := "trigger"
			if capture == dml.CaptureLogical {
				name = "logical"
			}
			t.Run(v.Label()+"/"+name, func(t *testing.T) {
				t.Parallel()
				repairConverges(t, v, capture)
			})
		}
	}
}

func repairConverges(t *testing.T, v dml.Variant, capture dml.Capture) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	keeps := v.KeepsDeleted()
	pgtest.MustExec(t, b.Source, accountsDDL)
	if keeps {
		pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`) // logdel's logical capture needs it
	}
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, 'n' || g, '{"a": 1}', '2024-01-01' FROM generate_series(1, 2000) g`)
	log := &memLog{}
	r, err := dml.NewVariant(b.Source, b.Dest, accounts, &dml.Config{Capture: capture, Options: replication.Options{
		JobLog: log, Columns: []string{"id", "owner", "balance", "note", "tags"}, Condition: "WHERE id % 7 <> 0"}}, v)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	cols := `id, owner, balance, note, tags`
	srcQuery := `SELECT ` + cols + ` FROM accounts WHERE id % 7 <> 0`
	destQuery := `SELECT ` + cols + ` FROM accounts`
	markedQuery := `SELECT ` + cols + `, mimeo_source_deleted FROM accounts WHERE mimeo_source_deleted IS NOT NULL`
	if keeps {
		destQuery += ` WHERE mimeo_source_deleted IS NULL`
		// Rows marked deleted: 711 stays deleted, 712 is re-used (queued).
		pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id IN (711, 712)`)
		refresh(t, r)
		require.Equal(t, []string{"(711)", "(712)"}, pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE mimeo_source_deleted IS NOT NULL`))
		pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (712, 'back', 0, NULL, NULL, NULL)`)
	}
	// Changes queued before the repair, some in ranges about to be repaired.
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = -balance WHERE id BETWEEN 10 AND 15 OR id = 500`)
	pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id IN (20, 21, 22, 1501)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'new', g, NULL, NULL, NULL FROM generate_series(3001, 3003) g`)
	// Tampering: rows changed, deleted and added.
	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET owner = 'tampered' WHERE id IN (500, 1500)`)
	pgtest.MustExec(t, b.Dest, `DELETE FROM accounts WHERE id IN (710, 1800)`)
	pgtest.MustExec(t, b.Dest, `INSERT INTO accounts (`+cols+`) VALUES (-5, 'added', 1, NULL, NULL), (713, 'added', 1, NULL, NULL) ON CONFLICT (id) DO UPDATE SET owner = 'added'`)

	var queued int64
	var confirmed string
	slotLSN := `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE database = current_database()`
	if capture == dml.CaptureLogical {
		require.NoError(t, b.Source.QueryRow(ctx, slotLSN).Scan(&confirmed))
	} else {
		queued = queueEntries(t, r)
		require.Positive(t, queued)
	}
	var marked []string
	if keeps {
		marked = pgtest.Rows(t, b.Dest, markedQuery+` AND id <> 712`)
	}

	cat := replication.NewCatalog("")
	ccfg := &check.ChecksumConfig{LeafRows: 1000}
	diff, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, r.Dest(), ccfg)
	require.NoError(t, err)
	require.False(t, diff.Match)
	require.Equal(t, []string{"id"}, diff.Key)
	if keeps {
		require.True(t, inRanges(t, diff, 711), "the kept row 711 lies in a repaired range: %v", diff.Ranges)
	}
	res, err := r.RepairRanges(ctx, diff)
	require.NoError(t, err)
	require.Positive(t, res.Deleted)
	require.Positive(t, res.Inserted)
	after, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, r.Dest(), ccfg)
	require.NoError(t, err)
	require.True(t, after.Match, "%v", after.Ranges)
	requireSame(t, b, srcQuery, destQuery)
	if keeps {
		// 711 kept as it was; 712's mark replaced by its live row.
		require.Equal(t, marked, pgtest.Rows(t, b.Dest, markedQuery))
		require.Equal(t, []string{"(712,back)"}, pgtest.Rows(t, b.Dest, `SELECT id, owner FROM accounts WHERE id = 712`))
	}
	// The queue is untouched.
	if capture == dml.CaptureLogical {
		var now string
		require.NoError(t, b.Source.QueryRow(ctx, slotLSN).Scan(&now))
		require.Equal(t, confirmed, now)
	} else {
		require.Equal(t, queued, queueEntries(t, r))
	}
	require.Contains(t, log.closed(), "Repair "+v.Label()+": public.accounts OK")

	// Changes after the repair's snapshot, then the refresh replays all.
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'later' WHERE id IN (11, 500, 1500)`)
	pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id = 1502`)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (3004, 'later', 1, NULL, NULL, NULL)`)
	for n := 0; ; n++ {
		require.Less(t, n, 10)
		if res := refresh(t, r); !res.More {
			break
		}
	}
	requireSame(t, b, srcQuery, destQuery)
	if keeps {
		// Exactly the deleted keys that meet the condition are marked,
		// 711 still as it was.
		require.Equal(t, []string{"(1501)", "(1502)", "(20)", "(22)", "(711)"},
			pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE mimeo_source_deleted IS NOT NULL`))
		require.Equal(t, marked, pgtest.Rows(t, b.Dest, markedQuery+` AND id = 711`))
	}
}

// inRanges reports whether integer key k lies in one of diff's ranges.
func inRanges(t *testing.T, diff *check.ChecksumResult, k int64) bool {
	t.Helper()
	bound := func(s []string) int64 {
		n, err := strconv.ParseInt(s[0], 10, 64)
		require.NoError(t, err)
		return n
	}
	for _, r := range diff.Ranges {
		if r.NullKey {
			continue
		}
		if (r.From == nil || bound(r.From) <= k) && (r.To == nil || k < bound(r.To)) {
			return true
		}
	}
	return false
}

// TestRepairRangesRefusesOtherDiffs: a repair needs a checksum of the
// job's own tables by the job's key; anything else is refused before the
// destination is touched. A diff that matched changes nothing, and a
// repair while a refresh holds the lock is skipped.
func TestRepairRangesRefusesOtherDiffs(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE pairs (a int NOT NULL, b text NOT NULL, v int, PRIMARY KEY (a, b))`)
	pgtest.MustExec(t, b.Source, `INSERT INTO pairs SELECT g % 10, 'k' || g, g FROM generate_series(1, 300) g`)
	pairs := replication.T("public", "pairs")
	r := newDML(t, b, pairs, &dml.Config{Key: []string{"b", "a"}})
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Dest, `UPDATE pairs SET v = -1 WHERE a = 3`)
	before := pgtest.Rows(t, b.Dest, `SELECT * FROM pairs`)
	cat := replication.NewCatalog("")

	_, err := r.RepairRanges(ctx, nil)
	require.ErrorAs(t, err, new(*replication.OptionError))
	// By the source's primary key (a, b), not the job's (b, a).
	byPK, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, pairs, &check.ChecksumConfig{Key: []string{"a", "b"}})
	require.NoError(t, err)
	require.False(t, byPK.Match)
	_, err = r.RepairRanges(ctx, byPK)
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.Contains(t, err.Error(), `"b", "a"`)
	other := *byPK
	other.Dest = replication.T("public", "elsewhere")
	_, err = r.RepairRanges(ctx, &other)
	require.ErrorAs(t, err, new(*replication.OptionError))
	require.Equal(t, before, pgtest.Rows(t, b.Dest, `SELECT * FROM pairs`))

	// The job's own key, text first: the repair fixes it.
	diff, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, pairs, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "a"}, diff.Key)
	require.False(t, diff.Match)

	// Locked by a refresh: skipped, nothing changed.
	conn, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	lock, err := replication.AcquireLock(ctx, conn, pairs, nil)
	require.NoError(t, err)
	res, err := r.RepairRanges(ctx, diff)
	require.ErrorIs(t, err, replication.ErrLocked)
	require.True(t, res.Skipped)
	require.NoError(t, lock.Release(ctx))
	conn.Release()
	require.Equal(t, before, pgtest.Rows(t, b.Dest, `SELECT * FROM pairs`))

	res, err = r.RepairRanges(ctx, diff)
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.Inserted, int64(30))
	require.Equal(t, res.Deleted, res.Inserted)
	requireSame(t, b, `SELECT * FROM pairs`, `SELECT * FROM pairs`)
	matched, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, pairs, nil)
	require.NoError(t, err)
	require.True(t, matched.Match)
	res, err = r.RepairRanges(ctx, matched)
	require.NoError(t, err)
	require.Equal(t, replication.Result{}, res)
}
