package incremental_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestInitialNewUpdated: the initial pull, then new rows (and, for the
// Updater, updated rows), then a refresh with nothing new.
func TestInitialNewUpdated(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(t, 1, 100)
		r := f.setup(t, f.cfg())
		f.same(t, r.Dest())

		f.insert(t, 101, 150)
		if m.updater {
			f.update(t, 10, 29, 1000)
		}
		res := f.refresh(t, r)
		f.same(t, r.Dest())
		require.EqualValues(t, 50, res.Inserted)
		if m.updater {
			require.EqualValues(t, 20, res.Updated)
		}
		require.False(t, res.More)
		require.Empty(t, res.Warnings)

		res = f.refresh(t, r)
		require.Zero(t, res.Rows())
		f.same(t, r.Dest())
		want := scalar[string](t, f.b.Source, fmt.Sprintf(`SELECT max(%s)::text FROM %s`, q(f.ctl), f.src.Sanitize()))
		got := scalar[string](t, f.b.Dest, fmt.Sprintf(`SELECT (%s)::%s::text FROM mimeo.jobs`,
			"state->>'last_value'", map[bool]string{true: "timestamptz", false: "bigint"}[m.typ == incremental.Time]))
		require.Equal(t, want, got, "stored last value is the highest control value pulled")
	})
}

// TestEmptySource: setup on an empty source, refresh, then rows arrive.
func TestEmptySource(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		r := f.setup(t, f.cfg())
		f.same(t, r.Dest())
		require.Zero(t, f.refresh(t, r).Rows())
		f.insertNow(t, 1, 40)
		require.EqualValues(t, 40, f.refresh(t, r).Inserted)
		f.same(t, r.Dest())
		if m.updater {
			pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`UPDATE %s SET %s = 'changed', %s = %s WHERE %s <= 5`, f.src.Sanitize(), q(f.text), q(f.ctl),
				map[bool]string{true: "clock_timestamp()", false: "100 + " + q(f.key)}[m.typ == incremental.Time], q(f.key)))
			require.EqualValues(t, 5, f.refresh(t, r).Updated)
			f.same(t, r.Dest())
		}
	})
}

// TestNoDataSetup: SkipPull creates the table (with its indexes) empty. A
// Serial job's first refresh pulls every row; a Time job starts at the
// setup time, as mimeo's does, and Repull brings the older rows.
func TestNoDataSetup(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(t, 1, 60)
		cfg := f.cfg()
		cfg.SkipPull = true
		r := f.setup(t, cfg)
		require.Zero(t, scalar[int64](t, f.b.Dest, "SELECT count(*) FROM "+r.Dest().Sanitize()))
		require.True(t, scalar[bool](t, f.b.Dest, `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary)`, r.Dest().Sanitize()),
			"the primary key is replicated")

		res := f.refresh(t, r)
		if m.typ == incremental.Serial {
			require.EqualValues(t, 60, res.Inserted)
			f.same(t, r.Dest())
			return
		}
		require.Zero(t, res.Rows(), "a time job set up without data starts at the setup time")
		f.insertNow(t, 61, 70)
		require.EqualValues(t, 10, f.refresh(t, r).Inserted)
		f.sameQuery(t, "SELECT * FROM "+f.src.Sanitize()+" WHERE id > 60", "SELECT * FROM "+r.Dest().Sanitize())
		res, err := r.Repull(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 70, res.Inserted)
		f.same(t, r.Dest())
	})
}

// TestSpecialNames: schema, table, key, control and payload columns and a
// custom destination with quotes, spaces, dots, hyphens, upper case and a
// reserved word.
func TestSpecialNames(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		src := replication.T(`Odd "Schema"`, `Tab-le.X`)
		f := newNamedFixture(t, m, src, `Key "K"`, `Ctl Col`, `select`, `N.o'`)
		f.insert(t, 1, 30)
		cfg := f.cfg()
		cfg.Dest = replication.T(`Odd "Schema"`, `Dest Tab'le`)
		cfg.BatchLimit = 1000
		r := f.setup(t, cfg)
		require.Equal(t, cfg.Dest, r.Dest())
		f.same(t, r.Dest())
		f.insert(t, 31, 45)
		if m.updater {
			f.update(t, 1, 5, 100)
		}
		f.refresh(t, r)
		f.same(t, r.Dest())
		pgtest.MustExec(t, f.b.Dest, "UPDATE "+r.Dest().Sanitize()+" SET "+q(f.text)+" = 'tampered'")
		_, err := r.RepullRange(context.Background(), f.val(0), f.val(1000))
		require.NoError(t, err)
		f.same(t, r.Dest())
		_, err = r.Repull(context.Background())
		require.NoError(t, err)
		f.same(t, r.Dest())
		require.NoError(t, r.Destroy(context.Background(), nil))
		require.False(t, scalar[bool](t, f.b.Dest, `SELECT to_regclass($1) IS NOT NULL`, r.Dest().Sanitize()))
	})
}

// TestViewSource: a view as the source; the Updater is given its key.
func TestViewSource(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		view := replication.T("public", "items_view")
		pgtest.MustExec(t, f.b.Source, `CREATE VIEW items_view AS SELECT id, ctl, payload FROM items WHERE n <> 3`)
		f.insert(t, 1, 50)
		cfg := f.cfg()
		if m.updater {
			cfg.Key = []string{"id"}
		}
		var r rep
		var err error
		if m.updater {
			r, err = incremental.NewUpdater(f.b.Source, f.b.Dest, view, cfg)
		} else {
			r, err = incremental.NewInserter(f.b.Source, f.b.Dest, view, cfg)
		}
		require.NoError(t, err)
		require.NoError(t, r.Setup(context.Background()))
		f.sameQuery(t, "SELECT * FROM items_view", "SELECT * FROM items_view")
		f.insert(t, 51, 80)
		if m.updater {
			f.update(t, 1, 20, 500)
			require.True(t, scalar[bool](t, f.b.Dest, `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'items_view'::regclass AND indisunique)`),
				"the Updater's destination has a unique index on the given key")
		}
		_, err = r.Refresh(context.Background())
		require.NoError(t, err)
		f.sameQuery(t, "SELECT * FROM items_view", "SELECT * FROM items_view")
	})
}

// TestCondition: only rows matching the condition are replicated, in both
// of mimeo's forms of the condition.
func TestCondition(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		for _, cond := range []string{"n < 4 OR payload IS NULL", "WHERE n < 4 OR payload IS NULL"} {
			t.Run(cond[:5], func(t *testing.T) {
				f := newFixture(t, m)
				f.insert(t, 1, 70)
				cfg := f.cfg()
				cfg.Condition = cond
				r := f.setup(t, cfg)
				srcQ := "SELECT * FROM items WHERE n < 4 OR payload IS NULL"
				f.sameQuery(t, srcQ, "SELECT * FROM items")
				f.insert(t, 71, 100)
				if m.updater {
					f.update(t, 1, 30, 1000)
				}
				f.refresh(t, r)
				f.sameQuery(t, srcQ, "SELECT * FROM items")
				require.NotZero(t, scalar[int64](t, f.b.Source, "SELECT count(*) FROM items WHERE NOT (n < 4)"), "the condition leaves rows out")
			})
		}
	})
}

// TestFilter: only the filtered columns are replicated; indexes on the
// columns left out are not.
func TestFilter(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		pgtest.MustExec(t, f.b.Source, `CREATE INDEX items_n_idx ON items (n)`)
		f.insert(t, 1, 40)
		cfg := f.cfg()
		cfg.Columns = []string{"id", "ctl", "payload"}
		r := f.setup(t, cfg)
		srcQ := "SELECT id, ctl, payload FROM items"
		f.sameQuery(t, srcQ, "SELECT * FROM items")
		cols := scalar[string](t, f.b.Dest, `SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped`)
		require.Equal(t, "id,ctl,payload", cols)
		require.Equal(t, []string{"(items_ctl_idx)", "(items_pkey)"}, pgtest.Rows(t, f.b.Dest,
			`SELECT relname FROM pg_class WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'items'::regclass)`),
			"the index on the filtered-out column is not replicated")
		f.insert(t, 41, 60)
		if m.updater {
			f.update(t, 1, 10, 100)
		}
		f.refresh(t, r)
		f.sameQuery(t, srcQ, "SELECT * FROM items")
	})
}

// TestRepull: a damaged destination is restored by Repull.
func TestRepull(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(t, 1, 100)
		r := f.setup(t, f.cfg())
		pgtest.MustExec(t, f.b.Dest, `DELETE FROM items WHERE id % 3 = 0`)
		pgtest.MustExec(t, f.b.Dest, `UPDATE items SET payload = 'damaged' WHERE id % 5 = 0`)
		f.insert(t, 101, 120)
		res, err := r.Repull(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 120, res.Inserted)
		f.same(t, r.Dest())
		require.Zero(t, f.refresh(t, r).Rows(), "the last value was moved to the repulled maximum")
		f.same(t, r.Dest())
	})
}

// TestRepullRange: only the rows in the exclusive range are replaced.
func TestRepullRange(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		f.insert(t, 1, 100)
		r := f.setup(t, f.cfg())
		// Damage rows 10..30 (some deleted) and 60..70.
		pgtest.MustExec(t, f.b.Dest, `UPDATE items SET payload = 'damaged' WHERE id BETWEEN 10 AND 30 OR id BETWEEN 60 AND 70`)
		pgtest.MustExec(t, f.b.Dest, `DELETE FROM items WHERE id BETWEEN 20 AND 25`)
		if m.updater {
			// A source row whose control value moved into the range from
			// outside it is replaced by key, not duplicated.
			pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`UPDATE items SET payload = 'moved', ctl = %s WHERE id = 90`, f.ctlSQL("15")))
		}
		res, err := r.RepullRange(context.Background(), f.val(9), f.val(31))
		require.NoError(t, err)
		require.EqualValues(t, 15, res.Deleted)
		want := pgtest.Rows(t, f.b.Source, `SELECT id, ctl, CASE WHEN id BETWEEN 60 AND 70 THEN 'damaged' ELSE payload END, n FROM items`)
		if m.updater {
			require.EqualValues(t, 1, res.Updated, "row 90 was replaced by key")
		}
		got := pgtest.Rows(t, f.b.Dest, `SELECT id, ctl, payload, n FROM items`)
		require.Equal(t, want, got)

		// Open ends: everything up to the last value.
		res, err = r.RepullRange(context.Background(), incremental.Value{}, incremental.Value{})
		require.NoError(t, err)
		f.same(t, r.Dest())
	})
}

// TestBatchLimit: a backlog larger than the limit converges over several
// refreshes; a cut through rows sharing one control value stops before that
// value; one value with more rows than the limit fails without pulling.
func TestBatchLimit(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		ctx := context.Background()
		f := newFixture(t, m)
		f.insert(t, 1, 10)
		cfg := f.cfg()
		cfg.BatchLimit = 30
		r := f.setup(t, cfg)
		f.same(t, r.Dest())

		// 100 rows with distinct values: 30, 30, 30, 10.
		f.insert(t, 11, 110)
		var sizes []int64
		for {
			res := f.refresh(t, r)
			sizes = append(sizes, res.Rows())
			if res.More {
				require.NotEmpty(t, res.Warnings, "a cut batch is reported")
			}
			if !res.More {
				break
			}
		}
		require.Equal(t, []int64{30, 30, 30, 10}, sizes)
		f.same(t, r.Dest())

		// Groups of rows sharing a value: 10 rows at 200, 25 at 201, 10 at
		// 202. The limit of 30 cuts inside 201, so the first batch is the
		// 10 rows at 200 only, the next the 25 at 201, then the 10 at 202.
		f.insertAt(t, 1000, 1009, 200)
		f.insertAt(t, 1010, 1034, 201)
		f.insertAt(t, 1035, 1044, 202)
		if m.updater {
			// Updated rows share values too: keys 1..5 move to 201.
			pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`UPDATE items SET payload = 'upd', ctl = %s WHERE id <= 5`, f.ctlSQL("201")))
		}
		wantSizes := []int64{10, 25, 10}
		if m.updater {
			wantSizes = []int64{10, 30, 10}
		}
		sizes = nil
		for i := 0; ; i++ {
			res := f.refresh(t, r)
			sizes = append(sizes, res.Rows())
			last := *f.lastValue(t, r.Dest())
			// Whole groups only: from the new groups up to the last value,
			// the sides agree.
			upTo := fmt.Sprintf("SELECT * FROM items WHERE ctl > %s AND ctl <= %s", f.ctlSQL("110"), litFor(m, last))
			f.sameQuery(t, upTo, upTo)
			if !res.More {
				break
			}
			require.Less(t, i, 5)
		}
		require.Equal(t, wantSizes, sizes)
		f.same(t, r.Dest())

		// 40 rows at one value with a limit of 30: an error, nothing moved.
		f.insertAt(t, 2000, 2039, 300)
		before := pgtest.Rows(t, f.b.Dest, "SELECT * FROM items")
		lastBefore := f.lastValue(t, r.Dest())
		_, err := r.Refresh(ctx)
		require.ErrorIs(t, err, incremental.ErrBatchLimit)
		var te *replication.TableError
		require.ErrorAs(t, err, &te)
		require.Contains(t, err.Error(), "BatchLimit")
		require.Equal(t, before, pgtest.Rows(t, f.b.Dest, "SELECT * FROM items"))
		require.Equal(t, lastBefore, f.lastValue(t, r.Dest()))

		// A larger limit (a run-time setting) moves them.
		cfg.BatchLimit = 50
		r2 := f.rep(t, cfg)
		res := f.refresh(t, r2)
		require.EqualValues(t, 40, res.Inserted)
		f.same(t, r.Dest())
	})
}

// litFor writes the stored last value as a literal of the mode's type.
func litFor(m mode, v string) string {
	if m.typ == incremental.Time {
		return "'" + v + "'::timestamptz"
	}
	return v
}
