package dml_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestApplyFromAnotherCapture feeds the apply with changes held as values,
// as a capture other than the trigger queue would, and saves that
// capture's progress in the same transaction.
func TestApplyFromAnotherCapture(t *testing.T) {
	t.Parallel()
	for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
		v := v
		t.Run(v.Label(), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			pgtest.MustExec(t, b.Source, `CREATE TABLE kv (k text PRIMARY KEY, v int, note text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO kv VALUES ('a', 1, 'x'), ('b', 2, 'y'), ('c', 3, 'z')`)
			r, err := dml.NewVariant(b.Source, b.Dest, replication.T("public", "kv"), nil, v)
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			target, err := r.Target(ctx)
			require.NoError(t, err)

			deletedAt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			var counts dml.Counts
			require.NoError(t, pgx.BeginFunc(ctx, b.Dest, func(tx pgx.Tx) error {
				batch, err := target.Stage(ctx, tx)
				if err != nil {
					return err
				}
				// b changed, d is new, c was deleted, a's key is touched
				// but its row is gone without a kept deletion.
				if _, err := batch.AddRows(ctx, pgx.CopyFromRows([][]any{{"b", 20, "changed"}, {"d", 4, "new"}})); err != nil {
					return err
				}
				if _, err := batch.AddKeys(ctx, pgx.CopyFromRows([][]any{{"a"}})); err != nil {
					return err
				}
				if v == dml.LogDeletes {
					if _, err := batch.AddDeleted(ctx, pgx.CopyFromRows([][]any{{"c", 3, "last", deletedAt}})); err != nil {
						return err
					}
				} else if _, err := batch.AddKeys(ctx, pgx.CopyFromRows([][]any{{"c"}})); err != nil {
					return err
				}
				if counts, err = batch.Apply(ctx); err != nil {
					return err
				}
				return target.Catalog.SaveState(ctx, tx, target.JobID, map[string]any{"capture": "test", "position": 42})
			}))
			require.Equal(t, dml.Counts{Inserted: 1, Updated: 1, Deleted: 2}, counts)
			if v == dml.Plain {
				require.Equal(t, []string{"(b,20,changed)", "(d,4,new)"}, pgtest.Rows(t, b.Dest, `SELECT * FROM kv`))
			} else {
				require.Equal(t, []string{"(b,20,changed,)", "(c,3,last,\"2024-05-06 07:08:09+00\")", "(d,4,new,)"},
					pgtest.Rows(t, b.Dest, `SELECT k, v, note, mimeo_source_deleted AT TIME ZONE 'UTC' || '+00' FROM kv`))
			}
			require.Equal(t, []string{`("{""capture"": ""test"", ""position"": 42}")`}, pgtest.Rows(t, b.Dest, `SELECT state FROM mimeo.jobs`))
			// A variant without kept deletions refuses them.
			if v == dml.Plain {
				require.Error(t, pgx.BeginFunc(ctx, b.Dest, func(tx pgx.Tx) error {
					batch, err := target.Stage(ctx, tx)
					if err != nil {
						return err
					}
					_, err = batch.AddDeleted(ctx, pgx.CopyFromRows([][]any{{"x", 1, "n", deletedAt}}))
					return err
				}))
			}
		})
	}
}

// TestLogdelNamesTheDeletedColumn: package logdel documents the column the
// apply machinery writes under its own name; they must agree.
func TestLogdelNamesTheDeletedColumn(t *testing.T) {
	require.Equal(t, dml.DeletedAtColumn, logdel.DeletedColumn)
}
