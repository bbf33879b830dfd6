package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Four Setups of one destination at once, for dml and logdel with both
// captures: one wins, every other one gets ErrExists and leaves nothing
// behind (one trigger set, one slot), and the job replicates.
func TestConcurrentSetupsOfOneDestination(t *testing.T) {
	t.Parallel()
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
			name := map[dml.Capture]string{dml.CaptureTrigger: "trigger", dml.CaptureLogical: "logical"}[capture] + "/" + v.Label()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := pgtest.Setup(t)
				pgtest.MustExec(t, b.Source, accountsDDL+`; ALTER TABLE accounts REPLICA IDENTITY FULL`)
				pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 2000) g`)
				var winner *dml.Replicator
				pgtest.RequireOneWinner(t, 4, replication.ErrExists, func() error {
					r, err := dml.NewVariant(b.Source, b.Dest, accounts, &dml.Config{Capture: capture}, v)
					require.NoError(t, err)
					if err := r.Setup(ctx); err != nil {
						return err
					}
					winner = r
					return nil
				})
				if capture == dml.CaptureLogical {
					require.Len(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`), 1)
				} else {
					require.Len(t, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`), 3)
				}
				pgtest.MustExec(t, b.Source, `UPDATE accounts SET note = 'x' WHERE id % 10 = 0`)
				refresh(t, winner)
				dest := `SELECT * FROM accounts`
				if v != dml.Plain {
					dest = `SELECT id, owner, balance, note, tags, seen FROM accounts WHERE mimeo_source_deleted IS NULL`
				}
				requireSame(t, b, `SELECT * FROM accounts`, dest)
			})
		}
	}
}
