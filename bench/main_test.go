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
	for _, layout := range []string{"one server", "two servers"} {
		for _, w := range []string{"P1 snapshot", "P1 table", "P3 dml, 500 updates", "P3 dml, 500 deletes", "P3 dml, 500 inserts",
			"P3b logdel, 500 updates", "P3b logdel, 500 deletes", "P3b logdel, 500 inserts"} {
			require.Contains(t, text, "| "+layout+" | "+w+" |")
		}
	}
	// Every timing cell is filled: three a row for P1 (pgmimeo, mimeo, the
	// COPY pipe), two for P3 and P3b, in two layouts.
	require.Equal(t, 2*(2*3+6*2), strings.Count(text, " s ("), text)
}
