package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestSmoke(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE t (id int PRIMARY KEY, v text, n numeric)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO t SELECT g, 'v' || g, g * 1.5 FROM generate_series(1, 1000) g`)
	r := newDML(t, b, replication.T("public", "t"), nil)
	require.NoError(t, r.Setup(ctx))
	requireSame(t, b, `SELECT * FROM t`, `SELECT * FROM t`)
	pgtest.MustExec(t, b.Source, `UPDATE t SET v = 'x' WHERE id % 10 = 0`)
	pgtest.MustExec(t, b.Source, `DELETE FROM t WHERE id % 7 = 0`)
	pgtest.MustExec(t, b.Source, `INSERT INTO t SELECT g, 'new', 0 FROM generate_series(1001, 1100) g`)
	res := refresh(t, r)
	t.Logf("%v", res)
	requireSame(t, b, `SELECT * FROM t`, `SELECT * FROM t`)
	res = refresh(t, r)
	require.True(t, res.Skipped)
	require.NoError(t, r.Destroy(ctx, nil))
}
