package incremental_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// An incremental job whose destination was tampered with (rows changed,
// deleted and added) is repaired to equal the source; source rows beyond
// the job's last pull are left to the next refresh, which then brings
// them without duplicates.
func TestRepairRanges(t *testing.T) {
	for _, updater := range []bool{false, true} {
		name := "inserter"
		if updater {
			name = "updater"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.events (id int PRIMARY KEY, seq bigint NOT NULL, body text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.events SELECT g, g, 'event ' || g FROM generate_series(1, 3000) g`)
			zero := int64(0)
			cfg := &incremental.Config{Control: "seq", SerialBoundary: &zero}
			tbl := replication.T("public", "events")
			var r check.RangeRepairer
			var err error
			if updater {
				r, err = incremental.NewUpdater(b.Source, b.Dest, tbl, cfg)
			} else {
				r, err = incremental.NewInserter(b.Source, b.Dest, tbl, cfg)
			}
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			for _, q := range []string{
				`UPDATE public.events SET body = 'tampered' WHERE id IN (10, 1500, 2999)`,
				`DELETE FROM public.events WHERE id IN (11, 2000)`,
				`INSERT INTO public.events VALUES (-5, 1, 'added'), (4000, 2500, 'added')`,
			} {
				pgtest.MustExec(t, b.Dest, q)
			}
			// New source rows the job has not pulled yet, inside the ranges
			// that differ.
			pgtest.MustExec(t, b.Source, `INSERT INTO public.events VALUES (-3, 3001, 'late'), (3999, 3002, 'late')`)
			cat := replication.NewCatalog("")
			diff, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, tbl, nil)
			require.NoError(t, err)
			require.False(t, diff.Match)

			res, err := r.RepairRanges(ctx, diff)
			require.NoError(t, err)
			require.Positive(t, res.Inserted)
			after, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, tbl, nil)
			require.NoError(t, err)
			require.True(t, after.Match, "%+v", after.Ranges)
			require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.events WHERE seq <= 3000`),
				pgtest.Rows(t, b.Dest, `SELECT * FROM public.events`))

			_, err = r.Refresh(ctx)
			require.NoError(t, err)
			require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM public.events`),
				pgtest.Rows(t, b.Dest, `SELECT * FROM public.events`))
		})
	}
}
