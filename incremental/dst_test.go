package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// inZone runs the source database in time zone tz: its sessions (and so
// SHOW TimeZone) report it. So does the destination's, so that rows print
// alike on both sides. The fixture's pools are replaced by ones whose
// connections are opened after the change.
func (f *fixture) inZone(t *testing.T, tz string) {
	t.Helper()
	for _, db := range []string{f.b.SourceDB, f.b.DestDB} {
		pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`ALTER DATABASE %s SET timezone TO %s`, replication.QuoteIdent(db), "'"+tz+"'"))
	}
	f.b.Source = pgtest.Pool(t, f.b.SourceDSN)
	f.b.Dest = pgtest.Pool(t, f.b.DestDSN)
	require.Equal(t, tz, scalar[string](t, f.b.Source, `SHOW TimeZone`))
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

// TestDST: time jobs do not run in the window of a daylight-saving change
// day of the source's time zone, with a fake clock; UTC sources never pause.
func TestDST(t *testing.T) {
	cases := []struct {
		name   string
		zone   string
		now    string
		start  time.Duration
		end    time.Duration
		ignore bool
		serial bool
		paused bool
	}{
		{name: "spring forward in window", zone: "America/New_York", now: "2024-03-10T01:30:00-05:00", paused: true},
		{name: "spring forward at window start", zone: "America/New_York", now: "2024-03-10T00:30:00-05:00", paused: true},
		{name: "spring forward before window", zone: "America/New_York", now: "2024-03-10T00:15:00-05:00"},
		{name: "spring forward after window", zone: "America/New_York", now: "2024-03-10T03:00:00-04:00"},
		{name: "day before", zone: "America/New_York", now: "2024-03-09T01:30:00-05:00"},
		{name: "day after", zone: "America/New_York", now: "2024-03-11T01:30:00-04:00"},
		{name: "fall back first 01:30", zone: "America/New_York", now: "2024-11-03T01:30:00-04:00", paused: true},
		{name: "fall back second 01:30", zone: "America/New_York", now: "2024-11-03T01:30:00-05:00", paused: true},
		{name: "custom window", zone: "America/New_York", now: "2024-03-10T03:30:00-04:00", start: 3 * time.Hour, end: 4 * time.Hour, paused: true},
		{name: "custom window outside", zone: "America/New_York", now: "2024-03-10T01:30:00-05:00", start: 3 * time.Hour, end: 4 * time.Hour},
		{name: "ignored", zone: "America/New_York", now: "2024-03-10T01:30:00-05:00", ignore: true},
		{name: "serial jobs never pause", zone: "America/New_York", now: "2024-03-10T01:30:00-05:00", serial: true},
		{name: "utc at new york change", zone: "UTC", now: "2024-03-10T01:30:00-05:00"},
		{name: "utc at its own 01:30", zone: "UTC", now: "2024-03-10T01:30:00Z"},
		{name: "utc at europe change", zone: "UTC", now: "2024-03-31T01:30:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := modes[0]
			if tc.serial {
				m = modes[1]
			}
			f := newFixture(t, m)
			f.inZone(t, tc.zone)
			f.insert(t, 1, 10)
			now := mustTime(t, tc.now)
			log := &recordingLog{}
			cfg := f.cfg()
			cfg.Now = func() time.Time { return now }
			cfg.DSTStart, cfg.DSTEnd, cfg.IgnoreDST = tc.start, tc.end, tc.ignore
			cfg.JobLog = log
			r := f.setup(t, cfg)
			f.insertNow(t, 11, 20)
			res := f.refresh(t, r)
			if !tc.paused {
				require.False(t, res.Skipped)
				require.EqualValues(t, 10, res.Inserted)
				f.same(t, r.Dest())
				return
			}
			require.True(t, res.Skipped)
			require.Contains(t, res.SkipReason, tc.zone)
			require.Zero(t, res.Rows())
			require.EqualValues(t, 10, scalar[int64](t, f.b.Dest, "SELECT count(*) FROM items"), "nothing was pulled")
			job := log.last()
			require.Equal(t, "Refresh Inserter: public.items", job.name)
			require.Equal(t, "DST Check", job.steps[0].action)
			require.Contains(t, job.steps[0].message, "Job CANCELLED")
			require.Equal(t, replication.LevelOK, job.level)

			// After the window the same job runs.
			now = now.Add(3 * time.Hour)
			res = f.refresh(t, r)
			require.False(t, res.Skipped, "%s", res.SkipReason)
			f.same(t, r.Dest())
		})
	}
}

// TestTimestampWithoutTimeZone: a timestamp (without time zone) control
// column in a source that is not in UTC: bounds and repull ranges are wall
// clock readings of the source's zone.
func TestTimestampWithoutTimeZone(t *testing.T) {
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, m)
			f.inZone(t, "America/New_York")
			pgtest.MustExec(t, f.b.Source, `ALTER TABLE items ALTER ctl TYPE timestamp(3) USING ctl::timestamp(3)`)
			pgtest.MustExec(t, f.b.Source, `ALTER TABLE items ALTER ctl SET DEFAULT clock_timestamp()`)
			pgtest.MustExec(t, f.b.Source, `INSERT INTO items (id, ctl, payload) SELECT g, localtimestamp - interval '1 hour' + g * interval '1 second', 'p' FROM generate_series(1, 20) g`)
			cfg := f.cfg()
			cfg.IgnoreDST = true
			r := f.setup(t, cfg)
			f.same(t, r.Dest())
			insertDefault(t, f.b.Source, 21, 30)
			if m.updater {
				pgtest.MustExec(t, f.b.Source, `UPDATE items SET payload = 'u', ctl = DEFAULT WHERE id <= 3`)
			}
			f.refresh(t, r)
			f.same(t, r.Dest())

			pgtest.MustExec(t, f.b.Dest, `UPDATE items SET payload = 'damaged' WHERE id BETWEEN 5 AND 15`)
			var lo, hi time.Time
			require.NoError(t, f.b.Source.QueryRow(ctx, `SELECT (SELECT ctl FROM items WHERE id = 4), (SELECT ctl FROM items WHERE id = 16)`).Scan(&lo, &hi))
			ny, err := time.LoadLocation("America/New_York")
			if err != nil {
				t.Skipf("no time zone database on this machine: %v", err)
			}
			// pgx reads a timestamp as a UTC time with the same clock
			// reading; the same reading in New York names the same value.
			lo = time.Date(lo.Year(), lo.Month(), lo.Day(), lo.Hour(), lo.Minute(), lo.Second(), lo.Nanosecond(), ny)
			hi = time.Date(hi.Year(), hi.Month(), hi.Day(), hi.Hour(), hi.Minute(), hi.Second(), hi.Nanosecond(), ny)
			res, err := r.RepullRange(ctx, incremental.TimeValue(lo), incremental.TimeValue(hi))
			require.NoError(t, err)
			require.EqualValues(t, 11, res.Deleted)
			f.same(t, r.Dest())
		})
	}
}
