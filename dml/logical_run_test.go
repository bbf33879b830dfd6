package dml_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// waitSame polls until the rows of the source query equal those of the
// destination query, and fails the test after limit (or when Run ended
// early, which done reports).
func waitSame(t *testing.T, b *pgtest.Bundle, query string, limit time.Duration, done <-chan error) {
	t.Helper()
	deadline := time.After(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		src, dst := pgtest.Rows(t, b.Source, query), pgtest.Rows(t, b.Dest, query)
		if slices.Equal(src, dst) {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before the destination caught up: %v", err)
		case <-deadline:
			require.Equal(t, src, dst, "the destination did not catch up within %v", limit)
			return
		case <-tick.C:
		}
	}
}

// TestLogicalRun runs a logical job in near-real-time mode: changes made
// while Run runs reach the destination without any call, rounds after
// rounds; cancelling ctx, between refreshes or in the middle of one (before
// or after its destination commit), ends Run with nil and leaves the slot
// released, and the job converges afterwards.
func TestLogicalRun(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`)
	r := newDML(t, b, accounts, &dml.Config{Capture: dml.CaptureLogical, Options: replication.Options{BatchLimit: 100},
		Logical: dml.LogicalConfig{PollInterval: 20 * time.Millisecond}})
	require.NoError(t, r.Setup(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	all := `SELECT * FROM accounts`
	changes := []string{
		`UPDATE accounts SET balance = balance * 2, note = 'round one' WHERE id % 3 = 0`,
		// more changes than the batch limit: Run goes on at once
		`INSERT INTO accounts SELECT g, 'new', 0, NULL, '{"k": [1, 2]}', now() FROM generate_series(301, 650) g`,
		`DELETE FROM accounts WHERE id % 7 = 0`,
		`UPDATE accounts SET id = id + 10000 WHERE id BETWEEN 100 AND 120`,
		`TRUNCATE accounts`,
		`INSERT INTO accounts VALUES (1, 'back', 1, 'after truncate', NULL, NULL)`,
	}
	for _, c := range changes {
		pgtest.MustExec(t, b.Source, c)
		waitSame(t, b, all, 30*time.Second, done)
	}
	// Changes from concurrent transactions, committed in another order
	// than they began.
	tx1, err := b.Source.Begin(context.Background())
	require.NoError(t, err)
	_, err = tx1.Exec(context.Background(), `INSERT INTO accounts VALUES (2, 'first begun', 2, NULL, NULL, NULL)`)
	require.NoError(t, err)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (3, 'second begun', 3, NULL, NULL, NULL)`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET owner = 'updated' WHERE id = 1`)
	require.NoError(t, tx1.Commit(context.Background()))
	waitSame(t, b, all, 30*time.Second, done)
	require.Len(t, pgtest.Rows(t, b.Dest, all), 3)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Run returns nil when its context ends")
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	require.Equal(t, []string{"(f)"}, pgtest.Rows(t, b.Source,
		`SELECT active FROM pg_replication_slots WHERE database = current_database()`), "no session reads the slot after Run returned")
	// The job is intact: a change made after Run is applied by a refresh.
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'after run'`)
	refresh(t, r)
	requireSame(t, b, all, all)

	// Cancelled in the middle of a refresh, before or after the
	// destination commit: Run returns nil, the slot is released, and the
	// next refresh converges.
	for i, when := range []string{"before commit", "after commit"} {
		ctx, cancel := context.WithCancel(context.Background())
		stop := func(context.Context, dml.Phase) error { cancel(); return nil }
		if when == "before commit" {
			dml.SetHooks(r, nil, stop, nil)
		} else {
			dml.SetHooks(r, nil, nil, stop)
		}
		pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, $1, g, NULL, NULL, NULL FROM generate_series($2::int, $2 + 100) g`, when, 2000+1000*i)
		pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = $1`, when)
		go func() { done <- r.Run(ctx) }()
		select {
		case err := <-done:
			require.NoError(t, err, "cancelled %s: Run returns nil", when)
		case <-time.After(30 * time.Second):
			t.Fatalf("Run did not return after its context was cancelled %s", when)
		}
		cancel()
		require.Equal(t, []string{"(f)"}, pgtest.Rows(t, b.Source,
			`SELECT active FROM pg_replication_slots WHERE database = current_database()`), "cancelled %s: the slot is released", when)
		dml.SetHooks(r, nil, nil, nil)
		for {
			if res := refresh(t, r); !res.More {
				break
			}
		}
		requireSame(t, b, all, all)
	}
	require.NoError(t, r.Destroy(context.Background(), nil))
	requireNoSlotOrPublication(t, b)
}
