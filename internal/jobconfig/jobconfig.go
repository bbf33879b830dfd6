// Package jobconfig changes some keys of a job's stored config (a JSON
// object in the catalog) to their declared values, leaving every other key
// as it is: what a kind's Ensure does with the settings that change in
// place.
package jobconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Patch sets each of keys in stored to its value in declared (any value
// that marshals to a JSON object, such as the kind's config struct); a key
// that declared leaves out (omitempty) is removed. It returns the new
// config and the keys whose value changed; nil and none when nothing did.
func Patch(stored json.RawMessage, declared any, keys ...string) (json.RawMessage, []string, error) {
	var have map[string]json.RawMessage
	if err := json.Unmarshal(stored, &have); err != nil {
		return nil, nil, fmt.Errorf("decode the stored config: %w", err)
	}
	if have == nil {
		have = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(declared)
	if err != nil {
		return nil, nil, err
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(b, &want); err != nil {
		return nil, nil, fmt.Errorf("decode the declared config: %w", err)
	}
	var changed []string
	for _, k := range keys {
		h, hok := have[k]
		w, wok := want[k]
		if hok == wok && (!hok || equalJSON(h, w)) {
			continue
		}
		changed = append(changed, k)
		if wok {
			have[k] = w
		} else {
			delete(have, k)
		}
	}
	if len(changed) == 0 {
		return nil, nil, nil
	}
	out, err := json.Marshal(have)
	return out, changed, err
}

// equalJSON compares two JSON values by their compacted text (the stored
// config comes back from jsonb, which normalises whitespace and key order
// within objects; the values patched here are scalars and arrays).
func equalJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// Columns shows a column list (a filter or a key) in a message: the names
// joined, or "every column" for none.
func Columns(cols []string) string {
	if len(cols) == 0 {
		return "every column"
	}
	return strings.Join(cols, ", ")
}
