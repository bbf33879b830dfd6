package incremental_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Four Setups of one destination at once: one wins, every other one gets
// ErrExists, and the destination holds the source's rows. An Updater set
// up over an existing table is ErrExists too (naming the missing column
// when told to adopt the table).
func TestConcurrentSetupsOfOneDestination(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"inserter", "updater"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.events (id int PRIMARY KEY, seq bigint NOT NULL, body text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.events SELECT g, g, 'event ' || g FROM generate_series(1, 5000) g`)
			tbl := replication.T("public", "events")
			zero := int64(0)
			cfg := &incremental.Config{Control: "seq", SerialBoundary: &zero}
			pgtest.RequireOneWinner(t, 4, replication.ErrExists, func() error {
				var r replication.Replicator
				var err error
				if kind == "updater" {
					r, err = incremental.NewUpdater(b.Source, b.Dest, tbl, cfg)
				} else {
					r, err = incremental.NewInserter(b.Source, b.Dest, tbl, cfg)
				}
				require.NoError(t, err)
				return r.Setup(ctx)
			})
			require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.events`), pgtest.Rows(t, b.Dest, `SELECT * FROM public.events`))
		})
	}
	t.Run("updater over a table of another shape", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := pgtest.Setup(t)
		pgtest.MustExec(t, b.Source, `CREATE TABLE public.events (id int PRIMARY KEY, seq bigint NOT NULL, body text)`)
		pgtest.MustExec(t, b.Dest, `CREATE TABLE public.events (id int PRIMARY KEY, seq bigint NOT NULL)`)
		zero := int64(0)
		u, err := incremental.NewUpdater(b.Source, b.Dest, replication.T("public", "events"), &incremental.Config{Control: "seq", SerialBoundary: &zero})
		require.NoError(t, err)
		err = u.Setup(ctx)
		require.ErrorIs(t, err, replication.ErrExists)
		// Told to adopt it, the missing column is named.
		u, err = incremental.NewUpdater(b.Source, b.Dest, replication.T("public", "events"), &incremental.Config{Control: "seq", SerialBoundary: &zero,
			Options: replication.Options{AdoptDest: true}})
		require.NoError(t, err)
		err = u.Setup(ctx)
		require.ErrorIs(t, err, replication.ErrExists)
		var ce *replication.ColumnError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "body", ce.Column)
		require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT job_id FROM mimeo.jobs`))
	})
}
