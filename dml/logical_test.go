package dml_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
)

var logical = &dml.Config{Capture: dml.CaptureLogical}

var errCrash = errors.New("crash")

// TestLogicalUnchangedToast: a value stored out of line (TOAST) that an
// update leaves alone is not in the stream; the destination keeps it.
func TestLogicalUnchangedToast(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	// random text does not compress, so it is stored out of line
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o', g, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)), NULL, NULL FROM generate_series(1, 3) g`)
	r := newDML(t, b, accounts, logical)
	require.NoError(t, r.Setup(context.Background()))
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 99 WHERE id = 2`)
	res := refresh(t, r)
	require.Equal(t, int64(1), res.Updated)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.Equal(t, []string{"(12800)"}, pgtest.Rows(t, b.Dest, `SELECT length(note) FROM accounts WHERE id = 2`))
}

// TestLogicalDestroyLeavesNothing: destroying a job drops its slot and its
// publication on the source; so does a setup that fails.
func TestLogicalDestroyLeavesNothing(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, logical)
	require.NoError(t, r.Setup(ctx))
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`), 1)
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT pubname FROM pg_publication`), 1)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL)`)
	refresh(t, r)
	require.NoError(t, r.Destroy(ctx, nil))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT pubname FROM pg_publication`))
	// A setup that fails after the slot was made (the destination exists)
	// leaves neither.
	pgtest.MustExec(t, b.Dest, `CREATE TABLE other (x int)`)
	bad := newDML(t, b, accounts, &dml.Config{Capture: dml.CaptureLogical, Options: replication.Options{Condition: "WHERE nope > 1"}})
	require.ErrorIs(t, bad.Setup(ctx), replication.ErrBadCondition)
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT pubname FROM pg_publication`))
	// A bad slot name never reaches the server.
	_, err := dml.New(b.Source, b.Dest, accounts, &dml.Config{Capture: dml.CaptureLogical, Logical: dml.LogicalConfig{Slot: "x; DROP"}})
	require.ErrorAs(t, err, new(*replication.OptionError))
}

// TestLogicalIdleTableDoesNotPinWAL: WAL written for other tables passes
// the slot's confirmed position at the next refresh, though nothing of
// the table changed.
func TestLogicalIdleTableDoesNotPinWAL(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `CREATE TABLE other (x int PRIMARY KEY, pad text)`)
	r := newDML(t, b, accounts, logical)
	require.NoError(t, r.Setup(context.Background()))
	pgtest.MustExec(t, b.Source, `INSERT INTO other SELECT g, repeat('x', 500) FROM generate_series(1, 5000) g`)
	var written string
	require.NoError(t, b.Source.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&written))
	res := refresh(t, r)
	require.True(t, res.Skipped, "other tables' changes are ignored")
	require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Source,
		`SELECT confirmed_flush_lsn >= '`+written+`'::pg_lsn FROM pg_replication_slots WHERE database = current_database()`),
		"the slot's confirmed position moved past the other table's writes")
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}

// TestLogicalSlotLagWarning: WAL retained past the thresholds is reported
// as a warning of the refresh and as WARNING and CRITICAL jobs in jobmon.
func TestLogicalSlotLagWarning(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	log, err := jobmon.New(b.Dest, nil)
	require.NoError(t, err)
	require.NoError(t, log.Migrate(ctx))
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, &dml.Config{Capture: dml.CaptureLogical, Options: replication.Options{JobLog: log},
		Logical: dml.LogicalConfig{WarnRetainedBytes: 1 << 20, CriticalRetainedBytes: 2 << 20}})
	require.NoError(t, r.Setup(ctx))
	// No refresh runs while the source writes: the stream is held back.
	pgtest.MustExec(t, b.Source, `CREATE TABLE other (x int PRIMARY KEY, pad text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO other SELECT g, repeat('x', 500) FROM generate_series(1, 10000) g`)
	h, err := r.SlotHealth(ctx)
	require.NoError(t, err)
	require.Greater(t, h.RetainedBytes, int64(2<<20))
	res := refresh(t, r)
	require.Len(t, res.Warnings, 1)
	require.Contains(t, res.Warnings[0], "retains")
	require.Equal(t, []string{"(\"CHECK SLOT: PUBLIC.ACCOUNTS\",CRITICAL)", "(\"REFRESH DML: PUBLIC.ACCOUNTS\",WARNING)"},
		pgtest.Rows(t, b.Dest, `SELECT upper(job_name), status FROM jobmon.job_log WHERE upper(job_name) NOT LIKE '%MAKER%'`))
}

// TestLogicalCrashes terminates the source session that reads the slot
// (standing in for the process) or the destination session after a
// destination commit but before the position is confirmed, and before a
// destination commit: of the only piece of the changes, or of the second
// of several pieces (Config.ChunkSize), whose first piece committed
// without the new position. The next refreshes converge exactly, for dml
// and logdel.
func TestLogicalCrashes(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, when := range []string{"before commit", "after commit"} {
			for _, side := range []string{"stream", "dest"} {
				for _, piece := range []int{1, 2} {
					v, when, side, piece := v, when, side, piece
					cfg := &dml.Config{Capture: dml.CaptureLogical}
					if piece > 1 {
						cfg.ChunkSize = 40
					}
					t.Run(fmt.Sprintf("%s/%s/%s/piece%d", v.Label(), when, side, piece), func(t *testing.T) {
						t.Parallel()
						b := pgtest.Setup(t)
						ctx := context.Background()
						pgtest.MustExec(t, b.Source, accountsDDL)
						pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
						pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 200) g`)
						r, err := dml.NewVariant(b.Source, b.Dest, accounts, cfg, v)
						require.NoError(t, err)
						require.NoError(t, r.Setup(ctx))
						pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance * 10 WHERE id % 3 = 0`)
						pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id % 7 = 0`)
						pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'n', 0, NULL, NULL, NULL FROM generate_series(201, 260) g`)
						var calls atomic.Int32
						kill := func(ctx context.Context, p dml.Phase) error {
							if int(calls.Add(1)) < piece {
								return nil
							}
							terminate(t, b, side, p)
							// the process dies here: nothing else is done
							return errCrash
						}
						if when == "before commit" {
							dml.SetHooks(r, nil, kill, nil)
						} else {
							dml.SetHooks(r, nil, nil, kill)
						}
						_, err = r.Refresh(ctx)
						t.Logf("refresh with a terminated %s connection %s: %v", side, when, err)
						require.Error(t, err)
						require.Equal(t, int32(piece), calls.Load())
						// a new process with new connections
						r, err = dml.NewVariant(pgtest.Pool(t, b.SourceDSN), pgtest.Pool(t, b.DestDSN), accounts, cfg, v)
						require.NoError(t, err)
						pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'after' WHERE id % 5 = 0`)
						pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id = 250`)
						for i := 0; i < 2; i++ {
							_, err := r.Refresh(ctx)
							require.NoError(t, err)
						}
						if v == dml.Plain {
							requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
						} else {
							requireSame(t, b, `SELECT * FROM accounts`, `SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL`)
							require.Equal(t, pgtest.Rows(t, b.Dest, `SELECT g FROM generate_series(7, 200, 7) g UNION ALL SELECT 250`),
								pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE mimeo_source_deleted IS NOT NULL`))
						}
						res, err := r.Refresh(ctx)
						require.NoError(t, err)
						require.True(t, res.Skipped, "nothing is applied twice")
					})
				}
			}
		}
	}
}

// TestLogicalTruncate: a TRUNCATE of the source empties the destination
// (logdel marks the live rows deleted, at the truncation's commit time);
// rows inserted after it arrive. Changes read before it are applied before
// it, whether they fill pieces of their own (ChunkSize 3) or not (the
// default), so logdel keeps the updated values of rows updated just
// before; with FetchFirst (one transaction) the TRUNCATE comes first and
// every changed row is read from the source.
func TestLogicalTruncate(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, cfg := range []dml.Config{{}, {ChunkSize: 3}, {FetchFirst: true}} {
			t.Run(fmt.Sprintf("%s/chunk%d/fetchfirst=%v", v.Label(), cfg.ChunkSize, cfg.FetchFirst), func(t *testing.T) {
				t.Parallel()
				b := pgtest.Setup(t)
				pgtest.MustExec(t, b.Source, accountsDDL)
				pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
				pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o', g, NULL, NULL, NULL FROM generate_series(1, 50) g`)
				cfg.Capture = dml.CaptureLogical
				r, err := dml.NewVariant(b.Source, b.Dest, accounts, &cfg, v)
				require.NoError(t, err)
				require.NoError(t, r.Setup(context.Background()))
				pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 0 WHERE id < 10`)
				pgtest.MustExec(t, b.Source, `TRUNCATE accounts`)
				pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (7, 'back', 1, NULL, NULL, NULL), (60, 'new', 2, NULL, NULL, NULL)`)
				pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 3 WHERE id = 60`)
				refresh(t, r)
				if v == dml.Plain {
					requireSame(t, b, `SELECT * FROM accounts ORDER BY id`, `SELECT * FROM accounts ORDER BY id`)
					return
				}
				requireSame(t, b, `SELECT * FROM accounts ORDER BY id`,
					`SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL ORDER BY id`)
				require.Equal(t, pgtest.Rows(t, b.Dest, `SELECT g FROM generate_series(1, 50) g WHERE g <> 7`),
					pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE mimeo_source_deleted IS NOT NULL ORDER BY id`))
				require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Dest, `SELECT count(DISTINCT mimeo_source_deleted) FROM accounts`))
				zeroed := "(8)"
				if cfg.FetchFirst {
					zeroed = "(0)"
				}
				require.Equal(t, []string{zeroed}, pgtest.Rows(t, b.Dest, `SELECT count(*) FROM accounts WHERE mimeo_source_deleted IS NOT NULL AND balance = 0`))
			})
		}
	}
}

// TestLogicalReplicaIdentityChangedLater: a job that replicates every
// column publishes no column list, so the source can still update its
// table after someone sets its replica identity to FULL; a filtered job's
// list stays, for it must.
func TestLogicalReplicaIdentityChangedLater(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL), (2, 'b', 2, NULL, NULL, NULL)`)
	r := newDML(t, b, accounts, logical)
	require.NoError(t, r.Setup(ctx))
	require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Source, `SELECT prattrs IS NULL FROM pg_publication_rel`))
	pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 42 WHERE id = 2`)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.NoError(t, r.Destroy(ctx, nil))
}
