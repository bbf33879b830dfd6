package jobconfig_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/jobconfig"
)

type conf struct {
	Columns []string `json:"columns,omitempty"`
	Fast    bool     `json:"fast,omitempty"`
	Scripts []string `json:"scripts,omitempty"`
}

func TestPatch(t *testing.T) {
	stored := json.RawMessage(`{"columns": ["a", "b"], "fast": true, "batch_limit": 7, "scripts": ["x"]}`)
	// Unchanged keys: nothing to write.
	out, changed, err := jobconfig.Patch(stored, conf{Columns: []string{"z"}, Fast: true, Scripts: []string{"x"}}, "fast", "scripts")
	require.NoError(t, err)
	require.Nil(t, out)
	require.Empty(t, changed)
	// A key turned off (omitted) is removed, another changed; keys not
	// named (columns, batch_limit) stay as stored.
	out, changed, err = jobconfig.Patch(stored, conf{Columns: []string{"z"}, Scripts: []string{"y", "z"}}, "fast", "scripts")
	require.NoError(t, err)
	require.Equal(t, []string{"fast", "scripts"}, changed)
	require.JSONEq(t, `{"columns": ["a", "b"], "batch_limit": 7, "scripts": ["y", "z"]}`, string(out))
	// A key added.
	out, changed, err = jobconfig.Patch(json.RawMessage(`{}`), conf{Fast: true}, "fast")
	require.NoError(t, err)
	require.Equal(t, []string{"fast"}, changed)
	require.JSONEq(t, `{"fast": true}`, string(out))
	_, _, err = jobconfig.Patch(json.RawMessage(`[1]`), conf{}, "fast")
	require.Error(t, err)
}

// A kind that stores its options as JSON keeps every key Patch does not
// name.
func ExamplePatch() {
	stored := json.RawMessage(`{"columns":["id","v"],"fast":false,"batch_limit":100}`)
	out, changed, _ := jobconfig.Patch(stored, conf{Fast: true}, "fast")
	fmt.Println(changed, string(out))
	// Output: [fast] {"batch_limit":100,"columns":["id","v"],"fast":true}
}
