package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// TestConditionNeverRunsAStatement gives snapshot and table jobs row
// conditions that try to drop a table on the source: at setup, and stored
// in the catalog for refresh, checksum and range repair. Each is a typed
// error, and the victim table is still there.
func TestConditionNeverRunsAStatement(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"snapshot", "table"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.notes (id int PRIMARY KEY, note text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 100) g`)
			pgtest.CreateVictim(t, b.Source)
			pgtest.CreateVictim(t, b.Dest)
			src := replication.T("public", "notes")
			newJob := func(cond string) (check.RangeRepairer, error) {
				o := replication.Options{Condition: cond}
				if kind == "snapshot" {
					return snapshot.New(b.Source, b.Dest, src, &snapshot.Config{Options: o})
				}
				return snapshot.NewTable(b.Source, b.Dest, src, &snapshot.TableConfig{Options: o})
			}
			for _, c := range pgtest.InjectionConditions() {
				r, err := newJob(c)
				if err == nil {
					err = r.Setup(ctx)
				}
				require.ErrorIs(t, err, replication.ErrBadCondition, c)
				pgtest.RequireVictim(t, b.Source, c)
			}
			require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_catalog.pg_class WHERE relname LIKE 'notes%'`))

			r, err := newJob("id > 0")
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET config = jsonb_set(config, '{condition}', '"id > 1"') WHERE dest_table = 'notes'`)
			cat := replication.NewCatalog("")
			dest := replication.T("public", "notes")
			diff, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, dest, nil)
			require.NoError(t, err)
			require.NotEmpty(t, diff.Ranges)
			for _, c := range pgtest.InjectionConditions() {
				pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET config = jsonb_set(config, '{condition}', to_jsonb($1::text)) WHERE dest_table = 'notes'`, c)
				pgtest.MustExec(t, b.Source, `UPDATE public.notes SET note = note || '.' WHERE id = 5`)
				_, err := r.Refresh(ctx)
				require.ErrorIs(t, err, replication.ErrBadCondition, "refresh: %s", c)
				_, err = r.RepairRanges(ctx, diff)
				require.ErrorIs(t, err, replication.ErrBadCondition, "repair: %s", c)
				_, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, dest, nil)
				require.ErrorIs(t, err, replication.ErrBadCondition, "checksum: %s", c)
				_, err = check.ValidateRowCount(ctx, b.Source, b.Dest, src, dest, &check.RowCountOptions{Condition: c})
				require.ErrorIs(t, err, replication.ErrBadCondition, "row count: %s", c)
				_, err = check.ValidateRowCount(ctx, b.Source, b.Dest, src, dest, &check.RowCountOptions{DestCondition: c})
				require.ErrorIs(t, err, replication.ErrBadCondition, "row count, destination condition: %s", c)
				pgtest.RequireVictim(t, b.Source, c)
				pgtest.RequireVictim(t, b.Dest, c)
			}
		})
	}
}
