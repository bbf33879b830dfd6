package dml

import (
	"encoding/json"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// jobConfig is what the catalog keeps of a job's options: the shape fixed
// at setup and the options a worker needs to refresh it.
type jobConfig struct {
	QueueSchema string   `json:"queue_schema"`
	QueueID     int64    `json:"queue_id"`
	Key         []string `json:"key"`
	Columns     []string `json:"columns"`
	// Filter is the caller's column filter (nil: every column at setup);
	// maintenance checks read it to tell a new source column from one
	// left out on purpose.
	Filter      []string `json:"filter,omitempty"`
	Condition   string   `json:"condition,omitempty"`
	BatchLimit  int      `json:"batch_limit,omitempty"`
	SkipIndexes bool     `json:"skip_indexes,omitempty"`
	FetchFirst  bool     `json:"fetch_first,omitempty"`
	// Capture is "logical" for logical capture, empty for the trigger queue.
	Capture Capture `json:"capture,omitempty"`
	// Slot and Publication name the source objects of logical capture.
	Slot        string `json:"slot,omitempty"`
	Publication string `json:"publication,omitempty"`

	// startLSN is the slot's consistent point, during setup.
	startLSN string
}

// queueState is where draining the queue stands. It is saved in the
// destination transaction that applies the entries it describes.
type queueState struct {
	// Closed is the queue table (0 or 1) being drained, nil when none is.
	Closed *int `json:"closed,omitempty"`
	// Pos is the position after which Closed's entries are still to apply.
	Pos string `json:"pos,omitempty"`
	// Done: every entry of Closed is applied; it may be truncated.
	Done bool `json:"done,omitempty"`
}

// jobState is a job's progress, kept in the catalog.
type jobState struct {
	Queue queueState `json:"queue"`
	// NeedsPull: the destination was made without data; the next refresh
	// pulls every row.
	NeedsPull bool `json:"needs_pull,omitempty"`
	// Stream is where logical capture stands.
	Stream *streamState `json:"stream,omitempty"`
}

func decodeJob(j *replication.Job) (jobConfig, jobState, error) {
	var c jobConfig
	var s jobState
	if err := json.Unmarshal(j.Config, &c); err != nil {
		return c, s, fmt.Errorf("job of %s: decode config: %w", j.Dest, err)
	}
	if len(j.State) > 0 {
		if err := json.Unmarshal(j.State, &s); err != nil {
			return c, s, fmt.Errorf("job of %s: decode state: %w", j.Dest, err)
		}
	}
	if len(c.Key) == 0 || len(c.Columns) == 0 {
		return c, s, fmt.Errorf("job of %s: config lacks the key or columns", j.Dest)
	}
	if c.Capture == CaptureLogical {
		if err := checkObjectName("slot", c.Slot); err != nil {
			return c, s, fmt.Errorf("job of %s: %w", j.Dest, err)
		}
		if err := checkObjectName("publication", c.Publication); err != nil {
			return c, s, fmt.Errorf("job of %s: %w", j.Dest, err)
		}
	} else if c.QueueID == 0 || c.QueueSchema == "" {
		return c, s, fmt.Errorf("job of %s: config lacks the queue", j.Dest)
	}
	return c, s, nil
}

func intp(i int) *int { return &i }
