package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The bench command runs end to end on small tables and reports every
// workload in both layouts. CI installs mimeo (postgresql-15-mimeo); a
// machine without it skips, and says so.
func TestBenchRuns(t *testing.T) {
	if _, err := os.Stat(mimeoControl()); err != nil {
		t.Skipf("mimeo is not installed here (apt-get install postgresql-15-mimeo): %v", err)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), 5000, 500, 1, "", &out), out.String())
	text := out.String()
	for _, row := range []string{"| one server | P1 snapshot |", "| one server | P1 table |", "| one server | P3 dml, 500 updates |",
		"| two servers | P1 snapshot |", "| two servers | P3 dml, 500 updates |"} {
		require.Contains(t, text, row)
	}
	// Every timing cell is filled: three a row for P1 (pgmimeo, mimeo, the
	// COPY pipe), two for P3, in two layouts.
	require.Equal(t, 16, strings.Count(text, " s ("), text)
}
