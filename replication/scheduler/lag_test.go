package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// TestLagPerKind: for every kind, a destination left behind while its
// source changes reports an age that is an upper bound of the truth and
// exceeds it by no more than the last refresh's own duration; a refresh
// brings it back; an idle refresh with nothing to apply advances last_ok;
// and the level follows the job's thresholds.
func TestLagPerKind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cat := replication.NewCatalog("")
	kinds := map[replication.Table]replication.Kind{}
	for i, k := range mixedKinds {
		kinds[b.job(t, k, fmt.Sprintf("l%d_%s", i, k), time.Hour)] = k
	}
	jobs, err := cat.Jobs(ctx, b.Dest, nil)
	require.NoError(t, err)
	for _, j := range jobs {
		require.NotNil(t, j.Age, "%s: setup pulled, so its age is known", j.Dest)
		require.NotNil(t, j.LastOK)
	}

	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{}))
	require.NoError(t, err)
	b.makeDue(t)
	runStart := b.dbNow(t)
	require.NoError(t, s.RunDue(ctx))
	caught := b.dbNow(t) // every refresh has ended: the destination holds every change before runStart
	for tbl, k := range kinds {
		b.change(t, tbl, k, 1)
	}
	time.Sleep(1500 * time.Millisecond)

	jobs, err = cat.Jobs(ctx, b.Dest, nil)
	require.NoError(t, err)
	now := b.dbNow(t)
	for _, j := range jobs {
		require.NotNil(t, j.Age, "%s", j.Dest)
		// Truth: the destination lacks changes made after caught, so its
		// data is at most now-caught old; the refresh read the source after
		// runStart, so the reported age is at most now-runStart.
		require.GreaterOrEqual(t, *j.Age, now.Sub(caught)-50*time.Millisecond, "%s: the age is an upper bound", j.Dest)
		require.LessOrEqual(t, *j.Age, now.Sub(runStart)+50*time.Millisecond, "%s: within the refresh's duration of the truth", j.Dest)
		require.Equal(t, replication.LagOK, j.Lag().Level, "%s: an hour's period tolerates seconds", j.Dest)
	}

	// What each kind adds: the queue's backlog, the rows past the last
	// control value and how far ahead the source's newest one is.
	details := func() map[replication.Table]replication.LagDetail {
		out := map[replication.Table]replication.LagDetail{}
		for tbl, k := range kinds {
			r, err := replication.Methods(allMethods...)[k].Open(ctx, b.Source, b.Dest, tbl, replication.Options{})
			require.NoError(t, err)
			d, err := r.(replication.LagReporter).LagDetail(ctx)
			require.NoError(t, err, "%s", tbl)
			out[tbl] = d
		}
		return out
	}
	for tbl, d := range details() {
		switch k := kinds[tbl]; k {
		case replication.KindDML, replication.KindLogDel:
			require.Equal(t, int64(10), *d.Backlog, "%s: 5 updated and 5 inserted rows queued", tbl)
		case replication.KindInserterSerial, replication.KindInserterTime:
			require.Equal(t, int64(5), *d.RowsBehind, "%s: 5 new rows", tbl)
		case replication.KindUpdaterSerial, replication.KindUpdaterTime:
			require.Equal(t, int64(10), *d.RowsBehind, "%s: 5 updated and 5 new rows", tbl)
		default:
			require.Equal(t, replication.LagDetail{}, d, "%s", tbl)
		}
		if k := kinds[tbl]; k == replication.KindUpdaterTime || k == replication.KindInserterTime {
			// The last value pulled was about two hours old; the new rows
			// are a minute old.
			require.InDelta(t, (119 * time.Minute).Seconds(), d.TimeBehind.Seconds(), 120, "%s", tbl)
		}
	}

	// A warning threshold below every job's age and a critical one three
	// seconds above the oldest's: warning, then, once the youngest is past
	// it, critical, then OK after a refresh. The thresholds follow the
	// ages, so a slow machine does not skip the warning.
	jobs, err = cat.Jobs(ctx, b.Dest, nil)
	require.NoError(t, err)
	youngest, oldest := *jobs[0].Age, *jobs[0].Age
	for _, j := range jobs {
		youngest, oldest = min(youngest, *j.Age), max(oldest, *j.Age)
	}
	critical := oldest + 3*time.Second
	thresholds := func(warning, critical time.Duration) {
		for tbl := range kinds {
			j, err := cat.Job(ctx, b.Dest, tbl)
			require.NoError(t, err)
			rs := j.RunSettings()
			rs.LagWarning, rs.LagCritical = warning, critical
			require.NoError(t, cat.SetRunSettings(ctx, b.Dest, tbl, rs))
		}
	}
	thresholds(time.Second, critical)
	level := func() map[replication.LagLevel]int {
		jobs, err := cat.Jobs(ctx, b.Dest, nil)
		require.NoError(t, err)
		out := map[replication.LagLevel]int{}
		for _, j := range jobs {
			out[j.Lag().Level]++
		}
		return out
	}
	require.Equal(t, map[replication.LagLevel]int{replication.LagWarning: len(kinds)}, level())
	time.Sleep(critical - youngest + 200*time.Millisecond)
	require.Equal(t, map[replication.LagLevel]int{replication.LagCritical: len(kinds)}, level())
	// After a refresh every job's data is no older than the refresh round
	// (before it, every age was past the round's start): with thresholds
	// above the round's length, every job is OK again, however long the
	// round took on this machine.
	b.makeDue(t)
	roundStart := b.dbNow(t)
	require.NoError(t, s.RunDue(ctx))
	round := b.dbNow(t).Sub(roundStart)
	thresholds(round+2*time.Second, round+4*time.Second)
	jobs, err = cat.Jobs(ctx, b.Dest, nil)
	require.NoError(t, err)
	now = b.dbNow(t)
	for _, j := range jobs {
		require.LessOrEqual(t, *j.Age, now.Sub(roundStart)+50*time.Millisecond, "%s: refreshed in the round", j.Dest)
	}
	require.Equal(t, map[replication.LagLevel]int{replication.LagOK: len(kinds)}, level())
	for tbl := range kinds {
		b.same(t, tbl)
	}
	for tbl, d := range details() {
		for _, n := range []*int64{d.Backlog, d.RowsBehind} {
			if n != nil {
				require.Zero(t, *n, "%s: caught up", tbl)
			}
		}
		if d.TimeBehind != nil {
			require.Zero(t, *d.TimeBehind, "%s", tbl)
		}
	}

	// An idle refresh (nothing queued) advances last_ok and the synced time.
	for tbl, k := range kinds {
		if k != replication.KindDML {
			continue
		}
		before, err := cat.Job(ctx, b.Dest, tbl)
		require.NoError(t, err)
		b.makeDue(t)
		require.NoError(t, s.RunDue(ctx))
		after, err := cat.Job(ctx, b.Dest, tbl)
		require.NoError(t, err)
		require.True(t, after.LastOK.After(*before.LastOK), "last_ok of an idle dml job advances")
		require.True(t, after.SyncedAt.After(*before.SyncedAt))
	}
}
