package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// requireNoSlotOrPublication checks that the source database has no
// replication slot and no publication.
func requireNoSlotOrPublication(t *testing.T, b *pgtest.Bundle) {
	t.Helper()
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))
	require.Empty(t, pgtest.Rows(t, b.Source, `SELECT pubname FROM pg_publication`))
}

// TestLogicalLeastPrivilege runs a logical job's whole life as a source
// role that is no superuser: it has the REPLICATION attribute, owns the
// table (a publication of a table needs its owner) and has CREATE on the
// source database (CREATE PUBLICATION needs it). Without that grant setup
// fails first, with a typed error naming it, and leaves nothing behind.
// Writers are another role with no right but on the table.
func TestLogicalLeastPrivilege(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	rep := b.CreateRole(t, "REPLICATION")
	writer := b.CreateRole(t)
	quoted := replication.QuoteIdent(rep.Name)
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`)
	pgtest.MustExec(t, b.Source, `ALTER TABLE accounts OWNER TO `+quoted)
	pgtest.MustExec(t, b.Source, `GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON accounts TO `+replication.QuoteIdent(writer.Name))
	src := pgtest.Pool(t, b.DSN(b.SourceDB, rep))
	var super, repl bool
	require.NoError(t, src.QueryRow(ctx, `SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user`).Scan(&super, &repl))
	require.False(t, super)
	require.True(t, repl)
	writes := pgtest.Pool(t, b.DSN(b.SourceDB, writer))
	cfg := &dml.Config{Capture: dml.CaptureLogical, Options: replication.Options{BatchLimit: 40}}

	// Without CREATE on the database there can be no publication.
	r, err := dml.New(src, b.Dest, accounts, cfg)
	require.NoError(t, err)
	err = r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrPrivilege)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Contains(t, te.Fix, `GRANT CREATE ON DATABASE `+replication.QuoteIdent(b.SourceDB)+` TO `+quoted)
	requireNoSlotOrPublication(t, b)
	requireNothingMade(t, b, "public.accounts")

	pgtest.MustExec(t, b.Source, `GRANT CREATE ON DATABASE `+replication.QuoteIdent(b.SourceDB)+` TO `+quoted)
	require.NoError(t, r.Setup(ctx))
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	require.Equal(t, []string{"(" + rep.Name + ")"}, pgtest.Rows(t, b.Source, `SELECT pubowner::regrole::text FROM pg_publication`))

	pgtest.MustExec(t, writes, `UPDATE accounts SET balance = -balance, tags = '{"w": 1}' WHERE id < 50`)
	pgtest.MustExec(t, writes, `DELETE FROM accounts WHERE id > 90`)
	pgtest.MustExec(t, writes, `INSERT INTO accounts SELECT g, 'w', 0, NULL, NULL, now() FROM generate_series(1000, 1009) g`)
	refreshes := 0
	for {
		res := refresh(t, r)
		refreshes++
		if !res.More {
			break
		}
	}
	require.Greater(t, refreshes, 1, "the batch limit split the changes")
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	pgtest.MustExec(t, writes, `TRUNCATE accounts`)
	pgtest.MustExec(t, writes, `INSERT INTO accounts VALUES (5, 'after truncate', 1, 'n', NULL, NULL)`)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	res, err := r.Repull(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Inserted)
	h, err := r.SlotHealth(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"(" + h.Slot + ")"}, pgtest.Rows(t, b.Source, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`))

	require.NoError(t, r.Destroy(ctx, nil))
	requireNoSlotOrPublication(t, b)
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT 1 FROM pg_class WHERE relname = 'accounts'`))
	pgtest.MustExec(t, writes, `UPDATE accounts SET owner = 'after destroy'`)
}
