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

// TestConditionNeverRunsAStatement gives inserter and updater jobs row
// conditions that try to drop a table on the source: at setup, and stored
// in the catalog for refresh, repull and checksum. Each is a typed error,
// and the victim table is still there.
func TestConditionNeverRunsAStatement(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"inserter", "updater"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.events (id int PRIMARY KEY, seq bigint NOT NULL, body text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.events SELECT g, g, 'event ' || g FROM generate_series(1, 100) g`)
			pgtest.CreateVictim(t, b.Source)
			pgtest.CreateVictim(t, b.Dest)
			tbl := replication.T("public", "events")
			type job interface {
				replication.Replicator
				Repull(ctx context.Context) (replication.Result, error)
			}
			zero := int64(0)
			newJob := func(cond string) (job, error) {
				cfg := &incremental.Config{Control: "seq", SerialBoundary: &zero, Options: replication.Options{Condition: cond}}
				if kind == "updater" {
					return incremental.NewUpdater(b.Source, b.Dest, tbl, cfg)
				}
				return incremental.NewInserter(b.Source, b.Dest, tbl, cfg)
			}
			for _, c := range pgtest.InjectionConditions() {
				r, err := newJob(c)
				if err == nil {
					err = r.Setup(ctx)
				}
				require.ErrorIs(t, err, replication.ErrBadCondition, c)
				pgtest.RequireVictim(t, b.Source, c)
			}
			require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_catalog.pg_class WHERE relname = 'events'`))

			r, err := newJob("id > 0")
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			cat := replication.NewCatalog("")
			for _, c := range pgtest.InjectionConditions() {
				pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET config = jsonb_set(config, '{condition}', to_jsonb($1::text)) WHERE dest_table = 'events'`, c)
				pgtest.MustExec(t, b.Source, `INSERT INTO public.events SELECT max(id) + 1, max(seq) + 1, 'new' FROM public.events`)
				// A job opened from the catalog takes the stored condition.
				o, err := incremental.Open(ctx, b.Source, b.Dest, tbl, nil)
				if err == nil {
					_, err = o.Refresh(ctx)
					require.ErrorIs(t, err, replication.ErrBadCondition, "refresh: %s", c)
					_, err = o.(job).Repull(ctx)
				}
				require.ErrorIs(t, err, replication.ErrBadCondition, "open or repull: %s", c)
				// The job made in code says another condition: refused too.
				_, err = r.Refresh(ctx)
				require.ErrorIs(t, err, replication.ErrBadOption, "refresh: %s", c)
				_, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, tbl, nil)
				require.ErrorIs(t, err, replication.ErrBadCondition, "checksum: %s", c)
				pgtest.RequireVictim(t, b.Source, c)
			}
		})
	}
}
