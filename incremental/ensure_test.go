package incremental_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestEnsure, for each of the four kinds (the type found at setup when
// the declaration leaves it empty): created once; ensured again as
// declared, untouched; run settings and the look-back change in place; the
// control column's type, the filter and the condition need a rebuild;
// refreshes carry on with the new batch limit.
func TestEnsure(t *testing.T) {
	forEachMode(t, func(t *testing.T, m mode) {
		f := newFixture(t, m)
		ctx := context.Background()
		f.insert(t, 1, 60)
		declared := func(change func(c *incremental.Config)) rep {
			c := f.cfg()
			c.Period = time.Minute
			if change != nil {
				change(c)
			}
			return f.rep(t, c)
		}
		job := func() []string { return pgtest.Rows(t, f.b.Dest, `SELECT row(j.*)::text FROM mimeo.jobs j`) }

		got, err := declared(nil).Plan(ctx) // no catalog yet
		require.NoError(t, err)
		require.True(t, got.Created)
		got, err = declared(nil).Ensure(ctx)
		require.NoError(t, err)
		require.True(t, got.Created)
		f.same(t, f.src)
		before := job()
		for range 3 {
			got, err = declared(nil).Ensure(ctx)
			require.NoError(t, err)
			require.Equal(t, replication.Ensured{}, got)
		}
		require.Equal(t, before, job())

		faster := func(c *incremental.Config) {
			c.BatchLimit, c.LookBack, c.SerialLookBack, c.Unlogged = 10, 2*time.Hour, 7, true
		}
		got, err = declared(faster).Plan(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"batch_limit", "unlogged", "look_back"}, got.Changed)
		require.Equal(t, before, job(), "Plan changes nothing")
		got, err = declared(faster).Ensure(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"batch_limit", "unlogged", "look_back"}, got.Changed)
		before = job()

		other := incremental.Time
		if m.typ == incremental.Time {
			other = incremental.Serial
		}
		for setting, change := range map[string]func(c *incremental.Config){
			"kind":          func(c *incremental.Config) { c.Type = other }, // inserter_time vs inserter_serial…
			"column filter": func(c *incremental.Config) { c.Columns = []string{f.key, f.ctl, f.text} },
			"condition":     func(c *incremental.Config) { c.Condition = "WHERE true" },
		} {
			_, err = declared(change).Ensure(ctx)
			var re *replication.RebuildError
			require.ErrorAs(t, err, &re, setting)
			require.Equal(t, setting, re.Setting)
		}
		require.Equal(t, before, job())

		f.insert(t, 61, 95)
		r := declared(faster)
		res := f.refresh(t, r)
		require.Equal(t, int64(10), res.Inserted, "the batch limit changed in place")
		for res.More {
			res = f.refresh(t, r)
		}
		f.same(t, f.src)
	})
}
