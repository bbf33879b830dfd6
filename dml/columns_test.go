package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestColumnChanges follows the documented order of a column change: a
// column added on the source is not replicated by the running job;
// replicating it takes destroying the job (keeping the table), adding the
// column on the destination and setting the job up again on the existing
// table, whose first refresh pulls every row.
func TestColumnChanges(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 50) g`)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))

	pgtest.MustExec(t, b.Source, `ALTER TABLE accounts ADD COLUMN extra text`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET extra = 'only the new column'`)
	res := refresh(t, r)
	require.True(t, res.Skipped, "an update of a column that is not replicated queues nothing")
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 0 WHERE id = 1`)
	refresh(t, r)
	requireSame(t, b, `SELECT id, owner, balance, note, tags, seen FROM accounts`, `SELECT * FROM accounts`)

	// Adopting needs the column on the destination first.
	require.NoError(t, r.Destroy(ctx, &replication.DestroyOptions{KeepTable: true}))
	again := newDML(t, b, accounts, &dml.Config{Options: replication.Options{AdoptDest: true}})
	err := again.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.ErrorContains(t, err, "extra")
	requireNothingMade(t, b, "public.nothing")
	pgtest.MustExec(t, b.Dest, `ALTER TABLE accounts ADD COLUMN extra text`)
	require.NoError(t, again.Setup(ctx))
	pgtest.MustExec(t, b.Source, `DELETE FROM accounts WHERE id > 45`)
	res = refresh(t, again)
	require.Equal(t, int64(45), res.Inserted, "the first refresh pulls every row")
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET extra = 'now replicated' WHERE id < 10`)
	refresh(t, again)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)

	// Dropping a replicated column is refused while the job captures it.
	_, err = b.Source.Exec(ctx, `ALTER TABLE accounts DROP COLUMN extra`)
	require.Error(t, err)
}
