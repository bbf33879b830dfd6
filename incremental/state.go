package incremental

import (
	"encoding/json"
	"fmt"
)

// state is a job's progress, stored in the catalog in the destination
// transaction that writes the rows it describes.
type state struct {
	// LastValue is the highest control value pulled (canonical text); the
	// next pull starts above it. Nil means no lower bound yet (a Serial job
	// that has pulled nothing).
	LastValue *string `json:"last_value"`
	// Snapshot is the source's pg_current_snapshot() at the last pull, kept
	// in late-commit mode.
	Snapshot string `json:"snapshot,omitempty"`
}

func decodeState(raw json.RawMessage) (state, error) {
	var s state
	if len(raw) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("decode job state: %w", err)
	}
	return s, nil
}

// last returns the last value for messages.
func (s state) last() string {
	if s.LastValue == nil {
		return "(start)"
	}
	return *s.LastValue
}
