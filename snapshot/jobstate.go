package snapshot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pgmimeo/pgmimeo/replication"
)

// jobOptions are the options recorded in the catalog at setup (the job's
// config column); later calls use them.
type jobOptions struct {
	Columns         []string            `json:"columns,omitempty"`
	Condition       string              `json:"condition,omitempty"`
	SkipIndexes     bool                `json:"skip_indexes,omitempty"`
	SkipUnchanged   bool                `json:"skip_unchanged,omitempty"`
	PostScripts     []string            `json:"post_scripts,omitempty"`
	TruncateCascade bool                `json:"truncate_cascade,omitempty"`
	Sequences       []replication.Table `json:"sequences,omitempty"`
}

// snapState is a snapshot job's progress (the job's state column), written
// in the destination transaction that swaps the view.
type snapState struct {
	// Active is the table the view shows: "snap1" or "snap2".
	Active string `json:"active"`
	// Columns is the source column signature the tables were built for.
	Columns []columnSig `json:"columns"`
	// Stats is the source's change signature read before the last pull;
	// nil when the data was not pulled (SkipPull) or cannot be vouched for.
	Stats *statsSig `json:"stats,omitempty"`
	// Rows is the number of rows of the last pull.
	Rows int64 `json:"rows"`
}

// tableState is a table job's progress.
type tableState struct {
	// Columns is the source column signature of the last load.
	Columns []columnSig `json:"columns"`
	// Rows is the number of rows of the last load.
	Rows int64 `json:"rows"`
	// Loaded is false until the first load.
	Loaded bool `json:"loaded"`
}

// columnSig is one replicated column as the source describes it; a change
// in any field is a column change.
type columnSig struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	NotNull bool   `json:"not_null,omitempty"`
}

func signature(cols []replication.Column) []columnSig {
	out := make([]columnSig, len(cols))
	for i, c := range cols {
		out[i] = columnSig{Name: c.Name, Type: c.Type, NotNull: c.NotNull}
	}
	return out
}

func sameColumns(a, b []columnSig) bool { return slices.Equal(a, b) }

// describeChange says how the source columns moved from old to cur, for the
// job log.
func describeChange(old, cur []columnSig) string {
	if len(old) == 0 {
		return "destination tables rebuilt"
	}
	oldBy := map[string]columnSig{}
	for _, c := range old {
		oldBy[c.Name] = c
	}
	curBy := map[string]columnSig{}
	for _, c := range cur {
		curBy[c.Name] = c
	}
	var parts []string
	for _, c := range cur {
		o, ok := oldBy[c.Name]
		switch {
		case !ok:
			parts = append(parts, "added "+replication.QuoteIdent(c.Name)+" "+c.Type)
		case o.Type != c.Type:
			parts = append(parts, "retyped "+replication.QuoteIdent(c.Name)+" "+o.Type+" -> "+c.Type)
		case o.NotNull != c.NotNull:
			parts = append(parts, "changed nullability of "+replication.QuoteIdent(c.Name))
		}
	}
	for _, o := range old {
		if _, ok := curBy[o.Name]; !ok {
			parts = append(parts, "dropped "+replication.QuoteIdent(o.Name))
		}
	}
	if len(parts) == 0 {
		return "column order changed"
	}
	return strings.Join(parts, ", ")
}

func decodeJSON(raw json.RawMessage, v any, what string, dest replication.Table) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s of job %s: %w", what, dest, err)
	}
	return nil
}
