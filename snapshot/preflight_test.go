package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// Setup fails before it creates anything when the source role lacks USAGE
// on the schema or SELECT on the table, and the error gives the GRANT.
func TestSetupPreflightNamesTheGrant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric)`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA sales`)
	r := b.CreateRole(t)
	role := replication.QuoteIdent(r.Name)
	src := pgtest.Pool(t, b.DSN(b.SourceDB, r))
	before := objects(t, b, "dest")
	setups := map[string]func() error{
		"snapshot": func() error {
			s, err := snapshot.New(src, b.Dest, replication.T("sales", "orders"), nil)
			require.NoError(t, err)
			return s.Setup(ctx)
		},
		"table": func() error {
			tb, err := snapshot.NewTable(src, b.Dest, replication.T("sales", "orders"), &snapshot.TableConfig{
				Options: replication.Options{Dest: replication.T("sales", "orders_copy")}})
			require.NoError(t, err)
			return tb.Setup(ctx)
		},
	}
	for name, setupJob := range setups {
		err := setupJob()
		require.ErrorIs(t, err, replication.ErrPrivilege, name)
		var te *replication.TableError
		require.ErrorAs(t, err, &te)
		require.Equal(t, replication.T("sales", "orders"), te.Table)
		require.Contains(t, te.Fix, `GRANT USAGE ON SCHEMA "sales" TO `+role+`;`)
		require.Equal(t, before, objects(t, b, "dest"))
	}
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA sales TO `+role)
	for name, setupJob := range setups {
		err := setupJob()
		require.ErrorIs(t, err, replication.ErrPrivilege, name)
		require.ErrorContains(t, err, `GRANT SELECT ON "sales"."orders" TO `+role+`;`)
		require.NotContains(t, err.Error(), "GRANT USAGE")
		require.Equal(t, before, objects(t, b, "dest"))
	}
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON sales.orders TO `+role)
	for name, setupJob := range setups {
		require.NoError(t, setupJob(), name)
	}
}
