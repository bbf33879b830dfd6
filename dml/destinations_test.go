package dml_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestSeveralDestinations(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			pgtest.MustExec(t, b.Source, accountsDDL)
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`)
			// Destinations differ in name, filter and condition.
			var reps []*dml.Replicator
			var queries []string
			for i := 0; i < n; i++ {
				cfg := &dml.Config{Options: replication.Options{Dest: replication.T("public", fmt.Sprintf("acc%d", i))}}
				q := `SELECT * FROM accounts`
				switch i {
				case 1:
					cfg.Columns = []string{"id", "balance"}
					q = `SELECT id, balance FROM accounts`
				case 2:
					cfg.Condition = "id % 2 = 0"
					q = `SELECT * FROM accounts WHERE id % 2 = 0`
				}
				r := newDML(t, b, accounts, cfg)
				require.NoError(t, r.Setup(ctx))
				reps = append(reps, r)
				queries = append(queries, q)
			}
			check := func(skip map[int]bool) {
				t.Helper()
				for i, r := range reps {
					if skip[i] {
						continue
					}
					requireSame(t, b, queries[i], `SELECT * FROM `+r.Dest().Sanitize())
				}
			}
			check(nil)
			pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 0 WHERE id < 30`)
			pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id > 90`)
			// Refreshed independently: the first one twice before the others once.
			refresh(t, reps[0])
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (500, 'late', 1, NULL, NULL, NULL)`)
			for _, r := range reps {
				refresh(t, r)
			}
			check(nil)

			// Destroying one destination leaves the others working.
			require.NoError(t, reps[1].Destroy(ctx, nil))
			require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relname = 'acc1'`))
			pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 7 WHERE id BETWEEN 40 AND 60`)
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (501, 'later', 2, NULL, NULL, NULL)`)
			for i, r := range reps {
				if i != 1 {
					refresh(t, r)
				}
			}
			check(map[int]bool{1: true})
			// Only the remaining destinations' triggers and queues are on the source.
			require.Len(t, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`), 3*(n-1), "three triggers a queue")
			require.Len(t, pgtest.Rows(t, b.Source, `SELECT queue_id FROM mimeo_queue.queues`), n-1)
			require.Len(t, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relnamespace = 'mimeo_queue'::regnamespace AND relkind = 'r' AND relname ~ '^q[0-9]'`), 2*(n-1))
			_, err := reps[1].Refresh(ctx)
			require.ErrorIs(t, err, replication.ErrNotManaged)
		})
	}
}

func TestDestinationLimit(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE t (id int PRIMARY KEY)`)
	for i := 0; i < dml.MaxDestinations; i++ {
		r := newDML(t, b, replication.T("public", "t"), &dml.Config{Options: replication.Options{Dest: replication.T("public", fmt.Sprintf("t%d", i))}})
		require.NoError(t, r.Setup(ctx))
	}
	r := newDML(t, b, replication.T("public", "t"), &dml.Config{Options: replication.Options{Dest: replication.T("public", "one_too_many")}})
	err := r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, "at most 100 destinations")
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT 1 FROM pg_class WHERE relname = 'one_too_many'`))
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT 1 FROM pg_trigger WHERE tgrelid = 't'::regclass`), 3*dml.MaxDestinations)
	pgtest.MustExec(t, b.Source, `INSERT INTO t VALUES (1)`)
	r0 := newDML(t, b, replication.T("public", "t"), &dml.Config{Options: replication.Options{Dest: replication.T("public", "t99")}})
	refresh(t, r0)
	requireSame(t, b, `SELECT * FROM t`, `SELECT * FROM t99`)
}
