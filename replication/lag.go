package replication

import "time"

// LagLevel is how a job's lag compares with its thresholds.
type LagLevel string

// The lag levels.
const (
	LagOK       LagLevel = "ok"       // within the warning threshold
	LagWarning  LagLevel = "warning"  // past the warning threshold
	LagCritical LagLevel = "critical" // past the critical threshold
	// LagUnknown: the job has never caught up (or its kind cannot say), or
	// it has no threshold (no period and none set), or it is paused.
	LagUnknown LagLevel = "unknown"
)

// Lag is how far behind its source a job's destination may be.
type Lag struct {
	// Age is how old the destination's data may be: the destination
	// server's clock minus the moment before which the destination is known
	// to hold every source change (Job.SyncedAt). It is an upper bound: the
	// data may be fresher (a source that did not change since is not
	// behind at all). Nil when unknown.
	Age *time.Duration
	// Warning and Critical are the thresholds Level was judged by; 0: none.
	Warning, Critical time.Duration
	// Level is Age against the thresholds.
	Level LagLevel
}

// LagThresholds returns the job's thresholds on its lag: LagWarning and
// LagCritical when set, else derived from the period: warning past two
// periods (at least a period and a minute), critical past four periods
// (at least a period and five minutes). A job without a period and without
// thresholds has none (0).
func (j *Job) LagThresholds() (warning, critical time.Duration) {
	warning, critical = j.LagWarning, j.LagCritical
	if j.Period > 0 {
		if warning == 0 {
			warning = max(2*j.Period, j.Period+time.Minute)
		}
		if critical == 0 {
			critical = max(4*j.Period, j.Period+5*time.Minute)
		}
	}
	if critical > 0 && warning > critical {
		warning = critical
	}
	return warning, critical
}

// Lag judges the job's lag as it was when the job was read (Age is read
// with the job, by the destination server's clock).
func (j *Job) Lag() Lag {
	w, c := j.LagThresholds()
	l := Lag{Age: j.Age, Warning: w, Critical: c, Level: LagUnknown}
	switch {
	case j.Age == nil || !j.Enabled:
	case c > 0 && *j.Age > c:
		l.Level = LagCritical
	case w > 0 && *j.Age > w:
		l.Level = LagWarning
	case w > 0 || c > 0:
		l.Level = LagOK
	}
	return l
}
