package incremental_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// requireNothingLeft checks that a failed setup left no destination table
// and no job behind.
func (f *fixture) requireNothingLeft(t *testing.T, dest replication.Table) {
	t.Helper()
	require.False(t, scalar[bool](t, f.b.Dest, `SELECT to_regclass($1) IS NOT NULL`, dest.Sanitize()), "no destination table")
	if scalar[bool](t, f.b.Dest, `SELECT to_regclass('mimeo.jobs') IS NOT NULL`) {
		require.Zero(t, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`), "no job in the catalog")
	}
}

// TestBadSetup: bad input to setup is a typed error naming the table (and
// column) and the fix, and leaves nothing behind.
func TestBadSetup(t *testing.T) {
	type check func(t *testing.T, err error)
	colErr := func(col string, sentinel error) check {
		return func(t *testing.T, err error) {
			var ce *replication.ColumnError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, col, ce.Column)
			require.Equal(t, replication.T("public", "items"), ce.Table)
			require.ErrorIs(t, err, sentinel)
			require.NotEmpty(t, ce.Fix)
		}
	}
	tableErr := func(sentinel error) check {
		return func(t *testing.T, err error) {
			var te *replication.TableError
			require.ErrorAs(t, err, &te)
			require.ErrorIs(t, err, sentinel)
			require.NotEmpty(t, te.Fix)
		}
	}
	optErr := func(field string) check {
		return func(t *testing.T, err error) {
			var oe *replication.OptionError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, field, oe.Field)
			require.ErrorIs(t, err, replication.ErrBadOption)
		}
	}
	cases := []struct {
		name    string
		updater bool
		prep    string
		cfg     func(c *incremental.Config)
		table   string
		atNew   bool
		check   check
	}{
		{name: "missing control column", cfg: func(c *incremental.Config) { c.Control = "nope" }, check: colErr("nope", replication.ErrColumnNotFound)},
		{name: "control column of a wrong type", cfg: func(c *incremental.Config) { c.Control = "payload" }, check: colErr("payload", replication.ErrBadOption)},
		{name: "control column not of the given type", cfg: func(c *incremental.Config) { c.Type = incremental.Time }, check: colErr("ctl", replication.ErrBadOption)},
		{name: "no key for updater", updater: true, prep: `ALTER TABLE items DROP CONSTRAINT items_pkey`, check: tableErr(replication.ErrNoKey)},
		{name: "view without key for updater", updater: true, prep: `CREATE VIEW v AS SELECT * FROM items`, table: "v", check: tableErr(replication.ErrNoKey)},
		{name: "given key column missing", updater: true, cfg: func(c *incremental.Config) { c.Key = []string{"nope"} }, check: colErr("nope", replication.ErrColumnNotFound)},
		{name: "filter drops control", cfg: func(c *incremental.Config) { c.Columns = []string{"id", "payload"} }, check: colErr("ctl", replication.ErrFilterDropsKey)},
		{name: "filter drops key", updater: true, cfg: func(c *incremental.Config) { c.Columns = []string{"ctl", "payload"} }, check: colErr("id", replication.ErrFilterDropsKey)},
		{name: "filter names unknown column", cfg: func(c *incremental.Config) { c.Columns = []string{"id", "ctl", "zz"} }, check: colErr("zz", replication.ErrColumnNotFound)},
		{name: "bad condition", cfg: func(c *incremental.Config) { c.Condition = "no_such_col > 1" }, check: tableErr(replication.ErrBadCondition)},
		{name: "condition with join", atNew: true, cfg: func(c *incremental.Config) { c.Condition = ", other o WHERE o.id = id" }, check: optErr("Options.Condition")},
		{name: "no control", atNew: true, cfg: func(c *incremental.Config) { c.Control = "" }, check: optErr("Config.Control")},
		{name: "key given to inserter", atNew: true, cfg: func(c *incremental.Config) { c.Key = []string{"id"} }, check: optErr("Config.Key")},
		{name: "negative boundary", atNew: true, cfg: func(c *incremental.Config) { c.SerialBoundary = new(int64(-1)) }, check: optErr("Config.SerialBoundary")},
		{name: "bad type", atNew: true, cfg: func(c *incremental.Config) { c.Type = "date" }, check: optErr("Config.Type")},
		{name: "late commit on a view", prep: `CREATE VIEW v AS SELECT * FROM items`, table: "v", cfg: func(c *incremental.Config) { c.LateCommit = true }, check: tableErr(replication.ErrBadOption)},
		{name: "source missing", table: "nope", check: tableErr(replication.ErrTableNotFound)},
		{name: "destination schema missing", cfg: func(c *incremental.Config) { c.Dest = replication.T("nope", "items") }, check: tableErr(replication.ErrSchemaNotFound)},
		{name: "destination is a view", cfg: func(c *incremental.Config) { c.Dest = replication.T("public", "dv") }, check: tableErr(replication.ErrExists)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := modes[1]
			if tc.updater {
				m = modes[3]
			}
			f := newFixture(t, m)
			f.insert(t, 1, 10)
			if tc.prep != "" {
				pgtest.MustExec(t, f.b.Source, tc.prep)
			}
			if tc.name == "destination is a view" {
				pgtest.MustExec(t, f.b.Dest, `CREATE VIEW dv AS SELECT 1 AS x`)
			}
			cfg := f.cfg()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			src := f.src
			if tc.table != "" {
				src = replication.T("public", tc.table)
			}
			var r rep
			var err error
			if tc.updater {
				r, err = incremental.NewUpdater(f.b.Source, f.b.Dest, src, cfg)
			} else {
				r, err = incremental.NewInserter(f.b.Source, f.b.Dest, src, cfg)
			}
			if tc.atNew {
				require.Error(t, err)
				tc.check(t, err)
				return
			}
			require.NoError(t, err)
			err = r.Setup(context.Background())
			require.Error(t, err)
			tc.check(t, err)
			if tc.name != "destination is a view" {
				f.requireNothingLeft(t, r.Dest())
			} else {
				require.Zero(t, scalar[int64](t, f.b.Dest, `SELECT count(*) FROM mimeo.jobs`))
			}
		})
	}
}
