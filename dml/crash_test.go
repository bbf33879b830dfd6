package dml_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// TestCrashes terminates the source or the destination backend of a
// refresh at each phase of a chunk (after the fetch, after the apply but
// before the commit, after the commit but before the source queue is
// cleaned up), for dml and logdel, and checks that the next refresh
// converges on the source: nothing lost, nothing applied twice.
func TestCrashes(t *testing.T) {
	t.Parallel()
	type phase struct {
		name string
		set  func(r *dml.Replicator, h func(context.Context, dml.Phase) error)
	}
	phases := []phase{
		{"after fetch", func(r *dml.Replicator, h func(context.Context, dml.Phase) error) { dml.SetHooks(r, h, nil, nil) }},
		{"mid apply", func(r *dml.Replicator, h func(context.Context, dml.Phase) error) { dml.SetHooks(r, nil, h, nil) }},
		{"after commit", func(r *dml.Replicator, h func(context.Context, dml.Phase) error) { dml.SetHooks(r, nil, nil, h) }},
	}
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		for _, ph := range phases {
			for _, side := range []string{"source", "dest"} {
				// the first or second of several chunks, or the only one (whose
				// commit is followed by the truncation of the queue table)
				for _, chunk := range []int{1, 2, 0} {
					v, ph, side, chunk := v, ph, side, chunk
					t.Run(fmt.Sprintf("%s/%s/%s/chunk%d", v.Label(), ph.name, side, chunk), func(t *testing.T) {
						t.Parallel()
						crashOnce(t, v, side, chunk, ph.set)
					})
				}
			}
		}
	}
}

func crashOnce(t *testing.T, v dml.Variant, side string, chunk int, set func(*dml.Replicator, func(context.Context, dml.Phase) error)) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 200) g`)
	cfg := &dml.Config{ChunkSize: 40}
	if chunk == 0 {
		cfg.ChunkSize, chunk = 0, 1
	}
	r, err := dml.NewVariant(b.Source, b.Dest, accounts, cfg, v)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance * 10 WHERE id % 3 = 0`)
	pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id % 7 = 0`)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'n', 0, NULL, NULL, NULL FROM generate_series(201, 260) g`)

	var calls atomic.Int32
	set(r, func(ctx context.Context, p dml.Phase) error {
		if int(calls.Add(1)) != chunk {
			return nil
		}
		terminate(t, b, side, p)
		return nil
	})
	// The refresh fails when it uses the terminated connection again (it
	// need not: a destination session may have no work left).
	_, err = r.Refresh(ctx)
	t.Logf("refresh with a terminated %s connection: %v", side, err)
	require.GreaterOrEqual(t, int(calls.Load()), chunk)

	// Changes keep coming; the next refreshes converge.
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'after' WHERE id % 5 = 0`)
	set(r, nil)
	for i := 0; i < 2; i++ {
		_, err := r.Refresh(ctx)
		require.NoError(t, err)
	}
	if v == dml.Plain {
		requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	} else {
		requireSame(t, b, `SELECT * FROM accounts`, `SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL`)
		require.Equal(t, pgtest.Rows(t, b.Dest, `SELECT g FROM generate_series(7, 200, 7) g`),
			pgtest.Rows(t, b.Dest, `SELECT id FROM accounts WHERE mimeo_source_deleted IS NOT NULL`))
	}
	st, err := r.QueueStats(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Entries(), "the queue is drained")
}

// terminate ends the refresh's session on side ("source" or "dest") of
// the phase, waiting until its backend is gone.
func terminate(t *testing.T, b *pgtest.Bundle, side string, p dml.Phase) {
	pid, pool := p.SourcePID, b.Source
	if side == "dest" {
		pid, pool = p.DestPID, b.Dest
	}
	var ok bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ok))
	require.True(t, ok)
}
