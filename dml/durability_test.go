package dml_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// TestDurableUnderAsyncCommit crashes a destination server whose
// synchronous_commit is off (pg_ctl stop -m immediate), once in the middle
// of a refresh and once right after a refresh returned, and checks that
// the next refreshes converge on the source: a commit the destination
// acknowledged but had not flushed must never have let the source drop
// its queue or confirm its slot. wal_writer_delay is 10 s on that server,
// so an asynchronous commit is still unflushed when the crash comes.
// The setting is made at the server, database or role level in turn.
func TestDurableUnderAsyncCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dest, err := pgtest.StartServer(ctx, "local")
	require.NoError(t, err, "the crash test needs the PostgreSQL server binaries (pg_config --bindir)")
	t.Cleanup(func() { _ = dest.Stop() })
	admin, err := dest.Connect(ctx, "postgres")
	require.NoError(t, err)
	pgtest.MustExec(t, admin, `ALTER SYSTEM SET wal_writer_delay = '10s'`)
	pgtest.MustExec(t, admin, `ALTER SYSTEM SET wal_writer_flush_after = 0`)
	pgtest.MustExec(t, admin, `SELECT pg_reload_conf()`)
	require.NoError(t, admin.Close(ctx))

	n := 0
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
			for _, level := range []string{"server", "database", "role"} {
				if level != "server" && (capture != dml.CaptureTrigger || v != dml.Plain) {
					continue // the levels once; every capture and variant at the server level
				}
				n++
				c := "trigger"
				if capture == dml.CaptureLogical {
					c = "logical"
				}
				name := fmt.Sprintf("%s/%s/%s", c, v.Label(), level)
				t.Run(name, func(t *testing.T) { crashAsyncDest(t, dest, n, capture, v, level) })
			}
		}
	}
}

func crashAsyncDest(t *testing.T, server *pgtest.Server, n int, capture dml.Capture, v dml.Variant, level string) {
	ctx := context.Background()
	b := pgtest.Setup(t)
	db, role := fmt.Sprintf("crash%d", n), fmt.Sprintf("crasher%d", n)
	admin, err := server.Connect(ctx, "postgres")
	require.NoError(t, err)
	pgtest.MustExec(t, admin, `CREATE ROLE `+role+` LOGIN SUPERUSER PASSWORD 'crash'`)
	pgtest.MustExec(t, admin, `CREATE DATABASE `+db)
	switch level {
	case "server":
		pgtest.MustExec(t, admin, `ALTER SYSTEM SET synchronous_commit = off`)
	case "database":
		pgtest.MustExec(t, admin, `ALTER SYSTEM RESET synchronous_commit`)
		pgtest.MustExec(t, admin, `ALTER DATABASE `+db+` SET synchronous_commit = off`)
	case "role":
		pgtest.MustExec(t, admin, `ALTER SYSTEM RESET synchronous_commit`)
		pgtest.MustExec(t, admin, `ALTER ROLE `+role+` SET synchronous_commit = off`)
	}
	pgtest.MustExec(t, admin, `SELECT pg_reload_conf()`)
	require.NoError(t, admin.Close(ctx))

	pool, err := pgxpool.New(ctx, server.DSN(db, role, "crash"))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var sc string
	require.NoError(t, pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&sc))
	require.Equal(t, "off", sc, "the destination commits asynchronously by default")

	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`)
	if capture == dml.CaptureLogical && v != dml.Plain {
		pgtest.MustExec(t, b.Source, `ALTER TABLE accounts REPLICA IDENTITY FULL`)
	}
	r, err := dml.NewVariant(b.Source, pool, accounts, &dml.Config{Capture: capture, ChunkSize: 50}, v)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	// The set-up's own commits are flushed before the first crash.
	pgtest.MustExec(t, pool, `CHECKPOINT`)

	crash := func() {
		t.Helper()
		require.NoError(t, server.Crash(ctx))
		require.NoError(t, server.Restart(ctx))
	}
	for round := 0; round < 3; round++ {
		lo := 301 + 40*round
		pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance + 1, note = 'r' || $1::int WHERE id % 3 = $1::int % 3`, round)
		pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id % 11 = $1::int`, round)
		pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'n', g, NULL, NULL, NULL FROM generate_series($1::int, $1::int + 39) g`, lo)

		// In the middle: after the second piece's commit, the server goes.
		var pieces atomic.Int32
		dml.SetHooks(r, nil, nil, func(context.Context, dml.Phase) error {
			if pieces.Add(1) == 2 {
				crash()
			}
			return nil
		})
		_, err := r.Refresh(ctx)
		t.Logf("round %d: refresh cut by a crash after %d pieces: %v", round, pieces.Load(), err)
		dml.SetHooks(r, nil, nil, nil)

		// Right after a refresh returns: its last commit was acknowledged
		// and the source cleaned up; a lost commit would lose its changes.
		pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'after' || $1::int WHERE id % 7 = $1::int`, round)
		refreshUntilDone(t, r)
		crash()
		refreshUntilDone(t, r)
		destQuery := `SELECT * FROM accounts`
		if v != dml.Plain {
			destQuery = `SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL`
		}
		require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM accounts`), pgtest.Rows(t, pool, destQuery), "round %d", round)
	}
}

// refreshUntilDone refreshes until nothing more is pending; the first
// refresh after a crash may find the pool's sessions dead.
func refreshUntilDone(t *testing.T, r *dml.Replicator) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := r.Refresh(ctx)
		if err == nil && !res.More {
			return
		}
		require.True(t, time.Now().Before(deadline), "refresh did not converge: %v", err)
		if err != nil {
			t.Logf("refresh: %v", err)
		}
	}
}
