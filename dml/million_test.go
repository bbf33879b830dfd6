package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestMillionChangesQueueStaysSmall queues 1,000,000 changes in rounds of
// 100,000 and applies them in batches of 40,000 entries between rounds. The
// queue tables are truncated in turn, never deleted from, so the queue's
// size on disk follows the backlog, not the total, and is back to nothing
// once it is drained.
func TestMillionChangesQueueStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("queues a million changes")
	}
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE m (id int PRIMARY KEY, n bigint NOT NULL)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO m SELECT g, 0 FROM generate_series(1, 100000) g`)
	r := newDML(t, b, replication.T("public", "m"), &dml.Config{Options: replication.Options{BatchLimit: 40000}})
	require.NoError(t, r.Setup(ctx))
	var changes, updated, maxBytes int64
	for round := 0; round < 10; round++ {
		tag, err := b.Source.Exec(ctx, `UPDATE m SET n = n + 1`)
		require.NoError(t, err)
		changes += tag.RowsAffected()
		st, err := r.QueueStats(ctx)
		require.NoError(t, err)
		maxBytes = max(maxBytes, st.Bytes())
		refreshes := 0
		for {
			res := refresh(t, r)
			updated += res.Updated
			refreshes++
			st, err := r.QueueStats(ctx)
			require.NoError(t, err)
			maxBytes = max(maxBytes, st.Bytes())
			if !res.More {
				break
			}
		}
		t.Logf("round %d: %d changes queued so far, queue peaked at %d bytes, %d refreshes", round+1, changes, maxBytes, refreshes)
	}
	// Every queued change was applied, once: each round updated every key.
	require.Equal(t, changes, updated)
	requireSame(t, b, `SELECT * FROM m`, `SELECT * FROM m`)
	require.Equal(t, []string{"(10)"}, pgtest.Rows(t, b.Dest, `SELECT DISTINCT n FROM m`))
	st, err := r.QueueStats(ctx)
	require.NoError(t, err)
	t.Logf("after 1,000,000 changes: queue holds %d entries in %d bytes on disk (%s: %d, %s: %d); at most %d bytes along the way",
		st.Entries(), st.Bytes(), st.Tables[0].Table, st.Tables[0].Bytes, st.Tables[1].Table, st.Tables[1].Bytes, maxBytes)
	require.Zero(t, st.Entries())
	require.LessOrEqual(t, st.Bytes(), int64(16384), "a drained queue takes no room")
	// One round of 100,000 entries takes about 3.6 MB; the queue never held
	// much more than a round, whatever the total.
	require.Less(t, maxBytes, int64(8<<20))
}
