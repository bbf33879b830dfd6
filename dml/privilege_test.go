package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	rep := b.CreateRole(t)
	writer := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`)
	pgtest.MustExec(t, b.Source, `GRANT SELECT, TRIGGER ON accounts TO `+replication.QuoteIdent(rep.Name))
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA mimeo_queue AUTHORIZATION `+replication.QuoteIdent(rep.Name))
	pgtest.MustExec(t, b.Source, `GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO `+replication.QuoteIdent(writer.Name))
	var super bool
	src := pgtest.Pool(t, b.DSN(b.SourceDB, rep))
	require.NoError(t, src.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super))
	require.False(t, super)
	writes := pgtest.Pool(t, b.DSN(b.SourceDB, writer))

	r, err := dml.New(src, b.Dest, accounts, &dml.Config{Options: replication.Options{BatchLimit: 30}})
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)

	// Writers with no right on the queue schema still queue (SECURITY
	// DEFINER), whatever their search_path.
	pgtest.MustExec(t, writes, `SET search_path = pg_temp, public`)
	pgtest.MustExec(t, writes, `UPDATE accounts SET balance = -balance WHERE id < 50`)
	pgtest.MustExec(t, writes, `DELETE FROM accounts WHERE id > 90`)
	pgtest.MustExec(t, writes, `INSERT INTO accounts VALUES (1000, 'w', 0, NULL, NULL, NULL)`)
	_, err = writes.Exec(ctx, `SELECT * FROM mimeo_queue.queues`)
	require.Error(t, err, "the writer cannot read the queue")
	for {
		res := refresh(t, r)
		if !res.More {
			break
		}
	}
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	pgtest.MustExec(t, writes, `UPDATE accounts SET owner = 'again'`)
	res, err := r.Repull(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(91), res.Inserted)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	st, err := r.QueueStats(ctx)
	require.NoError(t, err)
	t.Logf("queue after repull: %+v", st)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)

	require.NoError(t, r.Destroy(ctx, nil))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relnamespace = 'mimeo_queue'::regnamespace AND relname ~ '^q[0-9]'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT 1 FROM pg_class WHERE relname = 'accounts'`))
	pgtest.MustExec(t, writes, `UPDATE accounts SET owner = 'after destroy'`)
}

func TestMissingTriggerPrivilege(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	rep := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON accounts TO `+replication.QuoteIdent(rep.Name))
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA mimeo_queue AUTHORIZATION `+replication.QuoteIdent(rep.Name))
	src := pgtest.Pool(t, b.DSN(b.SourceDB, rep))
	r, err := dml.New(src, b.Dest, accounts, nil)
	require.NoError(t, err)
	err = r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Contains(t, te.Fix, `GRANT TRIGGER ON "public"."accounts" TO `+replication.QuoteIdent(rep.Name))
	requireNothingMade(t, b, "public.accounts")
}

func TestQueueSchemaNotOwned(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	rep := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `GRANT SELECT, TRIGGER ON accounts TO `+replication.QuoteIdent(rep.Name))
	src := pgtest.Pool(t, b.DSN(b.SourceDB, rep))
	// No schema, and no right to create one.
	r, err := dml.New(src, b.Dest, accounts, &dml.Config{QueueSchema: "q schema"})
	require.NoError(t, err)
	err = r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.ErrorContains(t, err, `CREATE SCHEMA "q schema" AUTHORIZATION`)
	// The schema exists, owned by someone else.
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "q schema"`)
	err = r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	requireNothingMade(t, b, "public.accounts")
}

func TestDestroyByAnotherRole(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	other := b.CreateRole(t)
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))
	// A role that does not own the queue objects cannot remove them: the
	// error says so and the job stays.
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA mimeo_queue TO `+replication.QuoteIdent(other.Name))
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON ALL TABLES IN SCHEMA mimeo_queue TO `+replication.QuoteIdent(other.Name))
	o, err := dml.New(pgtest.Pool(t, b.DSN(b.SourceDB, other)), b.Dest, accounts, nil)
	require.NoError(t, err)
	err = o.Destroy(ctx, nil)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	require.ErrorContains(t, err, "belong to role")
	require.ErrorContains(t, err, "run Destroy connected to the source as that role")
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT 1 FROM mimeo.jobs`), 1)
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT 1 FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`), 3)
	require.NoError(t, r.Destroy(ctx, &replication.DestroyOptions{KeepTable: true}))
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT 1 FROM pg_class WHERE relname = 'accounts'`), 1)
}
