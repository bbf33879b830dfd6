package check_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// accountsDDL makes pgbench_accounts-like rows, the same on every side.
func accountsDDL(table string, rows int) string {
	return fmt.Sprintf(`CREATE TABLE %[1]s (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84), at timestamptz);
INSERT INTO %[1]s SELECT i, (i - 1) / 100000 + 1, i %% 1000, 'row ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(1, %[2]d) i;
ANALYZE %[1]s;`, table, rows)
}

var accounts = replication.T("public", "accounts")

// rowSet is the set of differing rows a checksum reports, as "change key".
func rowSet(t *testing.T, res *check.ChecksumResult) []string {
	t.Helper()
	var out []string
	for _, r := range res.Ranges {
		require.True(t, r.Leaf, "range %s was not split to a leaf", r)
		for _, d := range r.Rows {
			out = append(out, fmt.Sprintf("%s %v", d.Change, d.Key))
		}
	}
	sort.Strings(out)
	return out
}

// intKeyIn checks that integer key k lies in range r.
func intKeyIn(t *testing.T, r check.KeyRange, k string) {
	t.Helper()
	v, err := strconv.Atoi(k)
	require.NoError(t, err)
	if r.From != nil {
		from, err := strconv.Atoi(r.From[0])
		require.NoError(t, err)
		require.GreaterOrEqual(t, v, from, "key %d below range %s", v, r)
	}
	if r.To != nil {
		to, err := strconv.Atoi(r.To[0])
		require.NoError(t, err)
		require.Less(t, v, to, "key %d not below range %s", v, r)
	}
}

func TestChecksumFindsChangedMissingAndExtraRows(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 5000))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 5000))
	require.Equal(t, pgtest.Rows(t, b.Source, `SELECT * FROM accounts`), pgtest.Rows(t, b.Dest, `SELECT * FROM accounts`))
	cfg := &check.ChecksumConfig{Ranges: 8, LeafRows: 20}

	res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, cfg)
	require.NoError(t, err)
	require.True(t, res.Match)
	require.Nil(t, res.Ranges)
	require.Equal(t, []string{"aid"}, res.Key)
	require.Equal(t, []string{"aid", "bid", "abalance", "filler", "at"}, res.Columns)
	require.Equal(t, int64(5000), res.SourceRows)
	require.Equal(t, int64(5000), res.DestRows)
	require.Equal(t, check.HashText, res.Hash)
	require.Equal(t, 8, res.RangesCompared)

	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET abalance = abalance + 1 WHERE aid = 1234;
		UPDATE accounts SET at = at + interval '1 microsecond' WHERE aid = 4999;
		DELETE FROM accounts WHERE aid IN (1, 2500);
		INSERT INTO accounts VALUES (5001, 1, 0, 'new', now()), (-7, 1, 0, 'before', now())`)
	for _, hash := range []check.ChecksumHash{check.HashText, check.HashMD5} {
		c := *cfg
		c.Hash = hash
		res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &c)
		require.NoError(t, err)
		require.False(t, res.Match)
		require.Equal(t, hash, res.Hash)
		require.Equal(t, []string{"changed [1234]", "changed [4999]", "extra [-7]", "extra [5001]", "missing [1]", "missing [2500]"}, rowSet(t, res))
		for _, r := range res.Ranges {
			for _, d := range r.Rows {
				intKeyIn(t, r, d.Key[0])
			}
			require.LessOrEqual(t, max(r.SourceRows, r.DestRows), int64(20))
		}
		// Ranges come in key order.
		require.Equal(t, "-7", res.Ranges[0].Rows[0].Key[0])
		require.Equal(t, "5001", res.Ranges[len(res.Ranges)-1].Rows[len(res.Ranges[len(res.Ranges)-1].Rows)-1].Key[0])
	}
}

// Random tampering on the destination is found exactly: every changed,
// deleted and added row, each inside the range that names it.
func TestChecksumRandomTampering(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 20000))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 20000))
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 7))
	for round := 0; round < 4; round++ {
		want := map[int]string{}
		pgtest.MustExec(t, b.Dest, `TRUNCATE accounts`)
		pgtest.MustExec(t, b.Dest, `INSERT INTO accounts SELECT i, (i - 1) / 100000 + 1, i % 1000, 'row ' || i,
			timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' FROM generate_series(1, 20000) i`)
		n := 1 + rnd.IntN(40)
		for i := 0; i < n; i++ {
			k := 1 + rnd.IntN(20000)
			if want[k] != "" {
				continue
			}
			if rnd.IntN(2) == 0 {
				pgtest.MustExec(t, b.Dest, `UPDATE accounts SET filler = 'tampered' WHERE aid = $1`, k)
				want[k] = "changed"
			} else {
				pgtest.MustExec(t, b.Dest, `DELETE FROM accounts WHERE aid = $1`, k)
				want[k] = "missing"
			}
		}
		for i := 0; i < rnd.IntN(5); i++ {
			k := 20001 + rnd.IntN(100)
			if want[k] == "" {
				pgtest.MustExec(t, b.Dest, `INSERT INTO accounts VALUES ($1, 1, 1, 'added', now())`, k)
				want[k] = "extra"
			}
		}
		var expect []string
		for k, c := range want {
			expect = append(expect, fmt.Sprintf("%s [%d]", c, k))
		}
		sort.Strings(expect)
		res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts,
			&check.ChecksumConfig{Ranges: 2 + rnd.IntN(20), LeafRows: 1 + rnd.IntN(50)})
		require.NoError(t, err)
		require.Equal(t, expect, rowSet(t, res), "round %d", round)
		for _, r := range res.Ranges {
			for _, d := range r.Rows {
				intKeyIn(t, r, d.Key[0])
			}
		}
	}
}

// Hostile names, a composite key with text whose collation orders
// differently on the two sides, a condition joining another table, a
// column filter and a destination view.
func TestChecksumCompositeKeyCollationsConditionView(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Odd Schema";
		CREATE TABLE "Odd Schema"."Line-Items" ("Order" text COLLATE "en-x-icu", "select" int, "Qty" numeric, note text, PRIMARY KEY ("Order", "select"));
		INSERT INTO "Odd Schema"."Line-Items" SELECT CASE WHEN i % 2 = 0 THEN lower(chr(65 + i % 26)) ELSE chr(65 + i % 26) END || (i / 26),
			j, i * 1.5 + j, 'n' || i FROM generate_series(0, 999) i, generate_series(1, 3) j;
		CREATE TABLE "Odd Schema".wanted (sel int); INSERT INTO "Odd Schema".wanted VALUES (1), (3);`)
	pgtest.MustExec(t, b.Dest, `CREATE SCHEMA "Odd Schema";
		CREATE TABLE "Odd Schema"."Line-Items data" ("Order" text, "select" int, "Qty" numeric);
		INSERT INTO "Odd Schema"."Line-Items data" SELECT CASE WHEN i % 2 = 0 THEN lower(chr(65 + i % 26)) ELSE chr(65 + i % 26) END || (i / 26),
			j, i * 1.5 + j FROM generate_series(0, 999) i, generate_series(1, 3) j WHERE j IN (1, 3);
		CREATE VIEW "Odd Schema"."Line-Items" AS SELECT * FROM "Odd Schema"."Line-Items data";`)
	src := replication.T("Odd Schema", "Line-Items")
	// The two sides order these keys differently.
	require.NotEqual(t,
		pgtest.Rows(t, b.Source, `SELECT string_agg("Order", ',' ORDER BY "Order") FROM (SELECT DISTINCT "Order" FROM "Odd Schema"."Line-Items" WHERE "Order" < 'C') s`),
		pgtest.Rows(t, b.Dest, `SELECT string_agg("Order", ',' ORDER BY "Order") FROM (SELECT DISTINCT "Order" FROM "Odd Schema"."Line-Items" WHERE "Order" < 'C') s`))
	cfg := &check.ChecksumConfig{
		Columns:   []string{"Order", "select", "Qty"},
		Condition: `, "Odd Schema".wanted w WHERE w.sel = "Line-Items"."select"`,
		Ranges:    5, LeafRows: 7,
	}
	res, err := check.Checksum(ctx, b.Source, b.Dest, src, src, cfg)
	require.NoError(t, err)
	require.True(t, res.Match, "%d ranges differ", len(res.Ranges))
	require.Equal(t, []string{"Order", "select"}, res.Key)
	require.Equal(t, int64(2000), res.SourceRows)

	pgtest.MustExec(t, b.Dest, `UPDATE "Odd Schema"."Line-Items data" SET "Qty" = "Qty" + 0.001 WHERE "Order" = 'B0' AND "select" = 3;
		DELETE FROM "Odd Schema"."Line-Items data" WHERE "Order" = 'a1' OR ("Order" = 'Z0' AND "select" = 1);
		INSERT INTO "Odd Schema"."Line-Items data" VALUES ('b', 1, 0)`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, src, src, cfg)
	require.NoError(t, err)
	require.Equal(t, []string{"changed [B0 3]", "extra [b 1]", "missing [Z0 1]", "missing [a1 1]", "missing [a1 3]"}, rowSet(t, res))
	// Bounds are compared under COLLATE "C": 'B…' < 'Z…' < 'b…'.
	for _, r := range res.Ranges {
		for _, d := range r.Rows {
			if r.From != nil {
				require.True(t, slices.Compare([]string{r.From[0]}, []string{d.Key[0]}) <= 0, "%v in %s", d.Key, r)
			}
		}
	}
}

// Rows whose key has a NULL part belong to no range and are reported apart;
// small tables are counted first, large ones (150,000 rows) in the pass
// that hashes the first ranges.
func TestChecksumNullKeysOnDestination(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	for _, n := range []int{300, 150000} {
		pgtest.MustExec(t, b.Source, `DROP TABLE IF EXISTS accounts; `+accountsDDL("accounts", n))
		pgtest.MustExec(t, b.Dest, `DROP TABLE IF EXISTS accounts; `+accountsDDL("accounts", n)+`
			ALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ALTER aid DROP NOT NULL;
			INSERT INTO accounts VALUES (NULL, 1, 1, 'no key', NULL), (77, 1, 77, 'row 77', timestamptz '2024-01-01 00:00:00+00' + 77 * interval '1 minute');
			ANALYZE accounts`)
		res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &check.ChecksumConfig{LeafRows: 10})
		require.NoError(t, err)
		require.False(t, res.Match)
		require.Equal(t, int64(n), res.SourceRows)
		require.Equal(t, int64(n+2), res.DestRows)
		require.Equal(t, check.KeyRange{NullKey: true, SourceRows: 0, DestRows: 1}, res.Ranges[0])
		// The repeated key 77 is an extra row.
		require.Len(t, res.Ranges, 2)
		require.Equal(t, []check.RowDiff{{Key: []string{"77"}, Change: check.RowExtra}}, res.Ranges[1].Rows)
	}
}

// An incremental job's destination lags its source: bounded by the control
// column, the rows not yet pulled are not reported.
func TestChecksumControlBounds(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 3000))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 2500))
	res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &check.ChecksumConfig{LeafRows: 1000})
	require.NoError(t, err)
	require.False(t, res.Match)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &check.ChecksumConfig{Control: "at"})
	require.NoError(t, err)
	require.True(t, res.Match)
	require.Equal(t, int64(2500), res.SourceRows)
	require.True(t, res.MaxInclusive)
	pgtest.MustExec(t, b.Dest, `UPDATE accounts SET bid = 0 WHERE aid IN (10, 2400)`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &check.ChecksumConfig{Control: "at", Lower: "1 day"})
	require.NoError(t, err)
	require.Equal(t, []string{"changed [2400]"}, rowSet(t, res))
	require.Equal(t, int64(1440), res.SourceRows)
}

// A destination that differs everywhere stops the descent at MaxRanges.
func TestChecksumMaxRanges(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 10000))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 10000)+`UPDATE accounts SET bid = 0 WHERE aid % 10 = 0`)
	res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts,
		&check.ChecksumConfig{Ranges: 4, LeafRows: 10, MaxRanges: 10})
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.False(t, res.Match)
	require.Len(t, res.Ranges, 16)
	var covered int64
	for i, r := range res.Ranges {
		require.False(t, r.Leaf)
		covered += r.SourceRows
		if i > 0 {
			require.Equal(t, res.Ranges[i-1].To, r.From)
		}
	}
	require.Equal(t, int64(10000), covered)
	require.Nil(t, res.Ranges[0].From)
	require.Nil(t, res.Ranges[15].To)
}

func TestChecksumEmptySides(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 0))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 0))
	res, err := check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, nil)
	require.NoError(t, err)
	require.True(t, res.Match)
	require.Zero(t, res.SourceRows+res.DestRows)

	// Rows only on the destination: split by the destination's keys.
	pgtest.MustExec(t, b.Dest, `INSERT INTO accounts SELECT i, 1, 1, 'stray', now() FROM generate_series(1, 500) i`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, &check.ChecksumConfig{LeafRows: 50})
	require.NoError(t, err)
	got := rowSet(t, res)
	require.Len(t, got, 500)
	require.Contains(t, got, "extra [1]")
	require.Contains(t, got, "extra [500]")
	require.Len(t, res.Ranges, 16)

	// And only on the source.
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT * FROM generate_series(1, 3) i, LATERAL (SELECT 1, 1, 'x', now()) x`)
	pgtest.MustExec(t, b.Dest, `TRUNCATE accounts`)
	res, err = check.Checksum(ctx, b.Source, b.Dest, accounts, accounts, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"missing [1]", "missing [2]", "missing [3]"}, rowSet(t, res))
}

func TestChecksumBadInput(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 10)+`CREATE TABLE nokey (a int); CREATE TABLE tkey (aid bigint PRIMARY KEY)`)
	pgtest.MustExec(t, b.Dest, `CREATE TABLE accounts (aid int, bid int, abalance int); CREATE TABLE nokey (a int); CREATE TABLE tkey (aid int)`)
	run := func(src, dst replication.Table, cfg *check.ChecksumConfig) error {
		_, err := check.Checksum(ctx, b.Source, b.Dest, src, dst, cfg)
		require.Error(t, err)
		return err
	}
	err := run(replication.T("public", "nokey"), replication.T("public", "nokey"), nil)
	require.ErrorIs(t, err, replication.ErrNoKey)
	require.Contains(t, err.Error(), `"public"."nokey"`)

	err = run(accounts, accounts, nil)
	var colErr *replication.ColumnError
	require.ErrorAs(t, err, &colErr)
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.Equal(t, "filler", colErr.Column)
	require.Equal(t, accounts, colErr.Table)

	err = run(replication.T("public", "tkey"), replication.T("public", "tkey"), nil)
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.Contains(t, err.Error(), "bigint on the source, integer here")

	err = run(accounts, accounts, &check.ChecksumConfig{Columns: []string{"bid", "abalance"}})
	require.ErrorIs(t, err, replication.ErrFilterDropsKey)

	cols := []string{"aid", "bid", "abalance"}
	err = run(accounts, accounts, &check.ChecksumConfig{Columns: cols, Condition: "WHERE nope > 1"})
	require.ErrorIs(t, err, replication.ErrBadCondition)
	err = run(accounts, accounts, &check.ChecksumConfig{Columns: cols, DestCondition: "nope > 1"})
	require.ErrorIs(t, err, replication.ErrBadCondition)
	var tabErr *replication.TableError
	require.ErrorAs(t, err, &tabErr)
	require.Equal(t, accounts, tabErr.Table)

	for field, cfg := range map[string]*check.ChecksumConfig{
		"ChecksumConfig.Ranges":        {Ranges: 1},
		"ChecksumConfig.LeafRows":      {LeafRows: -1},
		"ChecksumConfig.MaxRanges":     {MaxRanges: -1},
		"ChecksumConfig.Hash":          {Hash: "sha1"},
		"ChecksumConfig.Lower/Upper":   {Lower: "1 day"},
		"ChecksumConfig.DestCondition": {DestCondition: ", x WHERE true"},
	} {
		var optErr *replication.OptionError
		require.ErrorAs(t, run(accounts, accounts, cfg), &optErr)
		require.Equal(t, field, optErr.Field)
	}

	// A refresh holding the destination's lock keeps the check out.
	holder, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	lock, err := replication.AcquireLock(ctx, holder, accounts, nil)
	require.NoError(t, err)
	defer func() { _ = lock.Release(ctx) }()
	mine, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer mine.Release()
	err = run(accounts, accounts, &check.ChecksumConfig{Columns: cols, Lock: mine})
	require.ErrorIs(t, err, replication.ErrLocked)
}
