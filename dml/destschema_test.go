package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// A destination schema that does not exist is refused as by every kind
// (replication.CheckDestSchema): ErrSchemaNotFound naming the table, and
// nothing made on either side.
func TestMissingDestSchemaIsRefused(t *testing.T) {
	t.Parallel()
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, v := range []dml.Variant{dml.Plain, dml.LogDeletes} {
			b := pgtest.Setup(t)
			ctx := context.Background()
			pgtest.MustExec(t, b.Source, accountsDDL+`; ALTER TABLE accounts REPLICA IDENTITY FULL`)
			dest := replication.T("nowhere", "accounts")
			r, err := dml.NewVariant(b.Source, b.Dest, accounts, &dml.Config{Capture: capture, Options: replication.Options{Dest: dest}}, v)
			require.NoError(t, err)
			err = r.Setup(ctx)
			require.ErrorIs(t, err, replication.ErrSchemaNotFound)
			var te *replication.TableError
			require.ErrorAs(t, err, &te)
			require.Equal(t, dest, te.Table)
			require.Contains(t, te.Fix, `CREATE SCHEMA "nowhere"`)
			require.Empty(t, pgtest.Rows(t, b.Dest, `SELECT nspname FROM pg_namespace WHERE nspname = 'nowhere'`))
			require.Empty(t, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`))
			require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))
		}
	}
}
