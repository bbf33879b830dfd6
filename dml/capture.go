package dml

import (
	"fmt"
	"regexp"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Capture is how a job captures the source's changes.
type Capture string

// Captures.
const (
	// CaptureTrigger queues changed keys with a trigger (the default).
	CaptureTrigger Capture = ""
	// CaptureLogical reads changes from the write-ahead log through a
	// publication and a logical replication slot (pgoutput), without any
	// trigger on the source.
	CaptureLogical Capture = "logical"
)

func (c Capture) validate() error {
	if c != CaptureTrigger && c != CaptureLogical {
		return &replication.OptionError{Field: "Config.Capture", Problem: fmt.Sprintf("unknown capture %q: use dml.CaptureTrigger or dml.CaptureLogical", string(c))}
	}
	return nil
}

// String names the capture ("trigger" or "logical").
func (c Capture) String() string {
	if c == CaptureTrigger {
		return "trigger"
	}
	return string(c)
}

// Defaults of LogicalConfig.
const (
	// DefaultSlotWarnBytes is LogicalConfig.WarnRetainedBytes when zero.
	DefaultSlotWarnBytes = 1 << 30
	// DefaultSlotCriticalBytes is LogicalConfig.CriticalRetainedBytes when
	// zero.
	DefaultSlotCriticalBytes = 10 << 30
	// DefaultPollInterval is LogicalConfig.PollInterval when zero.
	DefaultPollInterval = time.Second
)

// LogicalConfig configures logical capture (Config.Capture = CaptureLogical).
type LogicalConfig struct {
	// Slot names the job's replication slot; it is also the name of the
	// job's publication. It must match ^[a-z_][a-z0-9_]{0,62}$ and be
	// unused on the source server. Default: "pgmimeo_" followed by 16 hex
	// digits drawn at random at setup.
	Slot string

	// WarnRetainedBytes is the WAL retained by the slot past which a
	// refresh reports a warning and logs a WARNING job in the job log.
	// Default 1 GiB.
	WarnRetainedBytes int64

	// CriticalRetainedBytes is the retained WAL past which the job log
	// gets a CRITICAL job. Default 10 GiB.
	CriticalRetainedBytes int64

	// PollInterval is how long Run waits after a refresh that found
	// nothing more to apply, and Spool between reads that reached the end
	// of the WAL. Default 1s.
	PollInterval time.Duration

	// Spool asks the scheduler (and so pgmimeo run) to keep a Spool of the
	// job running on one of its workers, beside the job's refreshes (see
	// Replicator.Spool); that Spool reads every DefaultPollInterval, since
	// a worker knows of the job only what the catalog keeps. It is stored
	// with the job and Ensure changes it in place. A service that runs its
	// own Spool need not set it. Default false.
	Spool bool
}

// slotName matches the slot and publication names this package accepts.
// pglogrepl pastes slot names into replication commands unquoted, so a
// name is checked against it before it gets there.
var slotName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkObjectName(what, name string) error {
	if !slotName.MatchString(name) {
		return fmt.Errorf("%w: %s name %q must match %s", replication.ErrBadName, what, name, slotName)
	}
	return nil
}

func (l *LogicalConfig) validate(capture Capture) error {
	if l.Slot != "" && !slotName.MatchString(l.Slot) {
		return &replication.OptionError{Field: "Config.Logical.Slot", Problem: fmt.Sprintf("%q must match %s", l.Slot, slotName)}
	}
	if l.WarnRetainedBytes < 0 || l.CriticalRetainedBytes < 0 {
		return &replication.OptionError{Field: "Config.Logical.WarnRetainedBytes/CriticalRetainedBytes", Problem: "must be 0 (the default) or positive"}
	}
	if l.Spool && capture != CaptureLogical {
		return &replication.OptionError{Field: "Config.Logical.Spool", Problem: "needs Capture: CaptureLogical (a trigger queue has nothing to spool)"}
	}
	if l.PollInterval < 0 {
		return &replication.OptionError{Field: "Config.Logical.PollInterval", Problem: "must be 0 (the default) or positive"}
	}
	return nil
}

func (l *LogicalConfig) warnBytes() int64 {
	if l.WarnRetainedBytes == 0 {
		return DefaultSlotWarnBytes
	}
	return l.WarnRetainedBytes
}

func (l *LogicalConfig) criticalBytes() int64 {
	if l.CriticalRetainedBytes == 0 {
		return DefaultSlotCriticalBytes
	}
	return l.CriticalRetainedBytes
}

func (l *LogicalConfig) pollInterval() time.Duration {
	if l.PollInterval == 0 {
		return DefaultPollInterval
	}
	return l.PollInterval
}
