package replication

import (
	"fmt"
	"time"
)

// Result is what one refresh did.
type Result struct {
	// Inserted, Updated and Deleted count destination rows written. A full
	// reload counts every row it loads as inserted.
	Inserted int64
	Updated  int64
	Deleted  int64
	// Skipped is true when the refresh found nothing to do because the
	// source had not changed; SkipReason says how it knew.
	Skipped    bool
	SkipReason string
	// Bytes is the size of the row data moved, when known.
	Bytes int64
	// Duration is the wall time of the refresh.
	Duration time.Duration
	// Warnings are conditions worth a DBA's attention that did not stop the
	// refresh (they are logged to jobmon as WARNING).
	Warnings []string
	// More is true when a batch limit stopped the refresh before it caught
	// up: calling Refresh again moves more.
	More bool
	// SyncLag is how long before the run's start the destination is known
	// to hold every source change once the run has committed: 0 for kinds
	// that read the source as of (or after) their start; a time
	// incremental job's boundary; about a minute for a snapshot skipped by
	// its statistics. The one job run records the job's synced time from
	// it (see Job.SyncedAt).
	SyncLag time.Duration
	// Unsynced is true when the run cannot say up to when the destination
	// holds every source change (a serial incremental job with a
	// boundary, a repull of a range): the job's synced time is left as it
	// was.
	Unsynced bool
}

// Rows returns the number of rows written.
func (r Result) Rows() int64 { return r.Inserted + r.Updated + r.Deleted }

// String summarises the result in one line.
func (r Result) String() string {
	if r.Skipped {
		return fmt.Sprintf("skipped (%s) in %v", r.SkipReason, r.Duration.Round(time.Millisecond))
	}
	s := fmt.Sprintf("%d inserted, %d updated, %d deleted in %v", r.Inserted, r.Updated, r.Deleted, r.Duration.Round(time.Millisecond))
	if r.More {
		s += " (more to do)"
	}
	return s
}
