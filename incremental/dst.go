package incremental

import (
	"context"
	"fmt"
	"time"
)

// dstCheckSQL asks the source, in its own time zone (the session's TimeZone,
// as SHOW TimeZone reports it), whether the day of $1 has a change of UTC
// offset between its midnight and the next, and what the local time of day
// of $1 is, in minutes.
const dstCheckSQL = `SELECT current_setting('TimeZone'),
	extract(timezone FROM date_trunc('day', $1::timestamptz))
		<> extract(timezone FROM date_trunc('day', $1::timestamptz) + interval '1 day'),
	(extract(hour FROM $1::timestamptz) * 60 + extract(minute FROM $1::timestamptz))::int`

// dstPause reports why a Time job must not run now, or "" when it may: on a
// day on which the source's time zone changes its UTC offset, between
// DSTStart and DSTEnd local time. A source in UTC (or any zone without
// daylight saving) has no such day.
func (j *job) dstPause(ctx context.Context, s *sourceRead) (string, error) {
	if j.cfg.IgnoreDST {
		return "", nil
	}
	now := j.cfg.Now()
	var zone string
	var change bool
	var minute int
	if err := s.tx.QueryRow(ctx, dstCheckSQL, now).Scan(&zone, &change, &minute); err != nil {
		return "", fmt.Errorf("daylight-saving check on source: %w", err)
	}
	if !change {
		return "", nil
	}
	at := time.Duration(minute) * time.Minute
	if at < j.cfg.DSTStart || at >= j.cfg.DSTEnd {
		return "", nil
	}
	return fmt.Sprintf("daylight-saving change day in source time zone %s: time jobs do not run between %s and %s local time (now %s)",
		zone, clock(j.cfg.DSTStart), clock(j.cfg.DSTEnd), clock(at)), nil
}

// clock writes a time of day as HH:MM.
func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}
