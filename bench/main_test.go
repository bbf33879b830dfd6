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
// workload in both layouts, checking the destinations against the source
// after every run. CI installs mimeo (postgresql-15-mimeo); a machine
// without it skips, and says so.
func TestBenchRuns(t *testing.T) {
	if _, err := os.Stat(mimeoControl()); err != nil {
		t.Skipf("mimeo is not installed here (apt-get install postgresql-15-mimeo): %v", err)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), config{rows: 5000, changes: 500, runs: 1, writerSeconds: 1}, &out), out.String())
	text := out.String()
	for _, layout := range []string{"one server", "two servers"} {
		for _, w := range []string{"P1 snapshot", "P1 table", "P2 inserter, 500 inserts", "P2 updater, 500 updates",
			"P3 dml, 500 updates", "P3 dml, 500 deletes", "P3 dml, 500 inserts",
			"P3b logdel, 500 updates", "P3b logdel, 500 deletes", "P3b logdel, 500 inserts",
			"P3 dml, 500 updates +10× unrelated WAL", "P3 dml, 500 updates +10× unrelated WAL, spooled", "P3 dml, 500 inserts, spooled",
			"2 parallel COPY streams over ctid ranges of one exported snapshot, then the key"} {
			require.Contains(t, text, "| "+layout+" | "+w+" |")
		}
		for _, w := range []string{"500 updates", "500 deletes", "500 inserts"} {
			require.Contains(t, text, "| "+layout+" | "+w+" |", "logdel against dml")
		}
	}
	// Every timing cell is filled: per layout, three for each P1 row
	// (pgmimeo, mimeo, the COPY pipe), two for each P2, P3 and P3b row, two
	// for each logical row read from the slot, three for each spooled one
	// (with Spool's catch-up), two for each load option, two for each row
	// of logdel against dml.
	require.Equal(t, 2*(2*3+8*2+4*2+4*3+7*2+3*2), strings.Count(text, " s ("), text)
	for _, c := range writerCaptures {
		require.Contains(t, text, "| "+c.label+" | ")
	}
}
