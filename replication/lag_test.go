package replication_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
)

// TestLagThresholds: the thresholds derived from the period start from the
// delay the job keeps by design (SyncLag); thresholds that are set are
// taken as they are.
func TestLagThresholds(t *testing.T) {
	t.Parallel()
	age := func(d time.Duration) *time.Duration { return &d }
	for _, c := range []struct {
		name              string
		job               replication.Job
		warning, critical time.Duration
		level             replication.LagLevel
	}{
		{"short period", replication.Job{Period: time.Minute, Enabled: true, Age: age(90 * time.Second)},
			2 * time.Minute, 6 * time.Minute, replication.LagOK},
		{"long period", replication.Job{Period: time.Hour, Enabled: true, Age: age(3 * time.Hour)},
			2 * time.Hour, 4 * time.Hour, replication.LagWarning},
		// A time-based incremental job with the default boundary, refreshed
		// every minute: just refreshed, its data is the boundary old.
		{"boundary", replication.Job{Period: time.Minute, SyncLag: 10 * time.Minute, Enabled: true, Age: age(10*time.Minute + 5*time.Second)},
			12 * time.Minute, 16 * time.Minute, replication.LagOK},
		{"boundary, two periods missed", replication.Job{Period: time.Minute, SyncLag: 10 * time.Minute, Enabled: true, Age: age(13 * time.Minute)},
			12 * time.Minute, 16 * time.Minute, replication.LagWarning},
		{"boundary, set thresholds", replication.Job{Period: time.Minute, SyncLag: 10 * time.Minute, Enabled: true, Age: age(10 * time.Minute),
			LagWarning: 3 * time.Minute, LagCritical: 5 * time.Minute}, 3 * time.Minute, 5 * time.Minute, replication.LagCritical},
		{"warning set above the derived critical", replication.Job{Period: time.Minute, Enabled: true, Age: age(time.Minute), LagWarning: time.Hour},
			6 * time.Minute, 6 * time.Minute, replication.LagOK},
		{"no period", replication.Job{SyncLag: 10 * time.Minute, Enabled: true, Age: age(time.Hour)}, 0, 0, replication.LagUnknown},
	} {
		w, crit := c.job.LagThresholds()
		require.Equal(t, c.warning, w, c.name)
		require.Equal(t, c.critical, crit, c.name)
		require.Equal(t, c.level, c.job.Lag().Level, c.name)
	}
}
