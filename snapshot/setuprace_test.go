package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// Four Setups of one destination at once: one wins, every other one gets
// ErrExists, and the destination holds the source's rows.
func TestConcurrentSetupsOfOneDestination(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"snapshot", "table"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.notes (id int PRIMARY KEY, note text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 5000) g`)
			src := replication.T("public", "notes")
			pgtest.RequireOneWinner(t, 4, replication.ErrExists, func() error {
				if kind == "snapshot" {
					s, err := snapshot.New(b.Source, b.Dest, src, nil)
					require.NoError(t, err)
					return s.Setup(ctx)
				}
				s, err := snapshot.NewTable(b.Source, b.Dest, src, nil)
				require.NoError(t, err)
				return s.Setup(ctx)
			})
			require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.notes`), pgtest.Rows(t, b.Dest, `SELECT * FROM public.notes`))
		})
	}
}
