package replication

import (
	"context"
	"time"
)

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
// LagCritical when set, else derived from the period, on top of the delay
// the job keeps by design (SyncLag, a time-based incremental job's
// boundary for one): warning past two periods (at least a period and a
// minute), critical past four periods (at least a period and five
// minutes). A job without a period and without thresholds has none (0).
func (j *Job) LagThresholds() (warning, critical time.Duration) {
	warning, critical = j.LagWarning, j.LagCritical
	if j.Period > 0 {
		if warning == 0 {
			warning = j.SyncLag + max(2*j.Period, j.Period+time.Minute)
		}
		if critical == 0 {
			critical = j.SyncLag + max(4*j.Period, j.Period+5*time.Minute)
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

// LagDetail is what a kind can tell of its job's lag besides its age, read
// from the source now. A field is nil where the kind has nothing to say.
type LagDetail struct {
	// Backlog is the number of source changes captured and not applied
	// yet: dml and logdel jobs by trigger (their queued entries, which
	// may count entries whose apply committed just before a crash). Every
	// one of them is younger than the job's Age.
	Backlog *int64
	// RetainedWAL and UnconfirmedWAL are, for a logical capture, the WAL
	// its slot keeps on the source (from its restart position) and the WAL
	// past its confirmed position, in bytes.
	RetainedWAL    *int64
	UnconfirmedWAL *int64
	// RowsBehind is, for an incremental job, the source rows (that its
	// condition keeps) above its last control value; TimeBehind, for a time
	// control column, how far the source's newest control value is ahead
	// of the job's last one.
	RowsBehind *int64
	TimeBehind *time.Duration
	// SourceChanged is, for a snapshot job that skips unchanged sources
	// (snapshot.Config.SkipUnchanged), whether the source's published
	// statistics show inserts, updates, deletes or truncates since its
	// last pull (they are published up to about a minute late). A whole-
	// table job's age (Job.Age) is the time since its last pull started.
	SourceChanged *bool
}

// LagReporter is implemented by the replicators of every kind of this
// module: LagDetail reads, from the source, what the kind knows of its
// job's lag.
type LagReporter interface {
	LagDetail(ctx context.Context) (LagDetail, error)
}
