package check_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// The acceptance case: in a 1,000,000-row table one changed row is found
// and its key range named; so are deleted and added rows.
func TestChecksumMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 2 x 1,000,000 rows")
	}
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	const n = 1_000_000
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", n))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", n))
	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET abalance = abalance + 1 WHERE aid = 654321`)
	require.Equal(t, []string{"(654321,7,322)"}, pgtest.Rows(t, b.Dest, `SELECT aid, bid, abalance FROM accounts WHERE aid = 654321`))
	require.Equal(t, []string{"(654321,7,321)"}, pgtest.Rows(t, b.Source, `SELECT aid, bid, abalance FROM accounts WHERE aid = 654321`))

	res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, nil)
	require.NoError(t, err)
	require.False(t, res.Match)
	require.Equal(t, int64(n), res.SourceRows)
	require.Equal(t, int64(n), res.DestRows)
	require.Len(t, res.Ranges, 1)
	r := res.Ranges[0]
	require.True(t, r.Leaf)
	require.NotNil(t, r.From)
	require.NotNil(t, r.To)
	intKeyIn(t, r, "654321")
	require.LessOrEqual(t, r.SourceRows, int64(check.DefaultLeafRows))
	require.Equal(t, r.SourceRows, r.DestRows)
	require.Equal(t, []check.RowDiff{{Key: []string{"654321"}, Change: check.RowChanged}}, r.Rows)
	t.Logf("changed row named in %s after comparing %d ranges", r, res.RangesCompared)

	pgtest.MustExec(t, b.Dest, `DELETE FROM accounts WHERE aid IN (17, 999999);
		INSERT INTO accounts VALUES (1000001, 11, 0, 'added', now()), (500000, 6, 0, 'changed', now()) ON CONFLICT (aid) DO UPDATE SET filler = EXCLUDED.filler`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"changed [500000]", "changed [654321]", "extra [1000001]", "missing [17]", "missing [999999]"}, rowSet(t, res))
	for _, r := range res.Ranges {
		for _, d := range r.Rows {
			intKeyIn(t, r, d.Key[0])
		}
	}

	// Put right, the tables match again.
	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET abalance = abalance - 1 WHERE aid = 654321;
		UPDATE accounts SET filler = 'row 500000' WHERE aid = 500000;
		DELETE FROM accounts WHERE aid = 1000001;
		INSERT INTO accounts SELECT i, (i - 1) / 100000 + 1, i % 1000, 'row ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
		FROM unnest(ARRAY[17, 999999]) i`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, nil)
	require.NoError(t, err)
	require.True(t, res.Match)
}
