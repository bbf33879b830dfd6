package dml_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// TestConditionNeverRunsAStatement gives dml and logdel jobs, with both
// captures, row conditions that try to drop a table on the source: at
// setup, and stored in the catalog (as if edited there) for refresh,
// repull, checksum and range repair. Each is a typed error naming the
// table, the victim table is still there, and setup leaves nothing behind.
func TestConditionNeverRunsAStatement(t *testing.T) {
	t.Parallel()
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
			name := fmt.Sprintf("%s/%s", map[dml.Capture]string{dml.CaptureTrigger: "trigger", dml.CaptureLogical: "logical"}[capture], v.Label())
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				injectDML(t, capture, v)
			})
		}
	}
}

func injectDML(t *testing.T, capture dml.Capture, v dml.Variant) {
	ctx := context.Background()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, accountsDDL+`; ALTER TABLE accounts REPLICA IDENTITY FULL`)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 50) g`)
	pgtest.CreateVictim(t, b.Source)
	pgtest.CreateVictim(t, b.Dest)

	for _, c := range pgtest.InjectionConditions() {
		r, err := dml.NewVariant(b.Source, b.Dest, accounts, &dml.Config{Capture: capture, Options: replication.Options{Condition: c}}, v)
		if err == nil {
			err = r.Setup(ctx)
		}
		require.ErrorIs(t, err, replication.ErrBadCondition, c)
		pgtest.RequireVictim(t, b.Source, c)
	}
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = 'accounts'::regclass`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_catalog.pg_replication_slots WHERE database = current_database()`))
	require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_catalog.pg_class WHERE relname = 'accounts'`))

	// A job set up with a good condition, whose stored condition is then
	// replaced: every operation that reads it refuses it.
	r, err := dml.NewVariant(b.Source, b.Dest, accounts, &dml.Config{Capture: capture, Options: replication.Options{Condition: "id > 0"}}, v)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET owner = 'tampered' WHERE id = 7`)
	cat := replication.NewCatalog("")
	diff, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, accounts, nil)
	require.NoError(t, err)
	require.NotEmpty(t, diff.Ranges)
	for _, c := range pgtest.InjectionConditions() {
		pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET config = jsonb_set(config, '{condition}', to_jsonb($1::text)) WHERE dest_table = 'accounts'`, c)
		pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = balance + 1 WHERE id = 3`)
		_, err := r.Refresh(ctx)
		require.ErrorIs(t, err, replication.ErrBadCondition, "refresh: %s", c)
		_, err = r.Repull(ctx)
		require.ErrorIs(t, err, replication.ErrBadCondition, "repull: %s", c)
		_, err = r.RepairRanges(ctx, diff)
		require.ErrorIs(t, err, replication.ErrBadCondition, "repair: %s", c)
		_, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, accounts, nil)
		require.ErrorIs(t, err, replication.ErrBadCondition, "checksum: %s", c)
		_, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, accounts, &check.ChecksumConfig{Condition: "id > 0", DestCondition: c})
		require.ErrorIs(t, err, replication.ErrBadCondition, "checksum, destination condition: %s", c)
		pgtest.RequireVictim(t, b.Source, c)
		pgtest.RequireVictim(t, b.Dest, c)
	}
}
