package incremental_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Setup fails before it creates anything when the source role lacks USAGE
// on the schema or SELECT on the replicated columns, and the error gives
// the GRANT; SELECT on the filtered columns is enough.
func TestSetupPreflightNamesTheGrant(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA sales; CREATE TABLE sales.events (id int PRIMARY KEY, seq bigint NOT NULL, secret text)`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA sales`)
	r := b.CreateRole(t)
	role := replication.QuoteIdent(r.Name)
	src := pgtest.Pool(t, b.DSN(b.SourceDB, r))
	tbl := replication.T("sales", "events")
	cfg := &incremental.Config{Control: "seq", Options: replication.Options{Columns: []string{"id", "seq"}}}
	setup := func() error {
		u, err := incremental.NewUpdater(src, b.Dest, tbl, cfg)
		require.NoError(t, err)
		return u.Setup(ctx)
	}
	noJob := func() {
		require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relnamespace = 'sales'::regnamespace`))
	}
	err := setup()
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.ErrorContains(t, err, `GRANT USAGE ON SCHEMA "sales" TO `+role+`;`)
	noJob()
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA sales TO `+role)
	err = setup()
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.ErrorContains(t, err, `GRANT SELECT ON "sales"."events" TO `+role+`;`)
	noJob()
	pgtest.MustExec(t, b.Source, `GRANT SELECT (id, seq) ON sales.events TO `+role)
	require.NoError(t, setup())
}
