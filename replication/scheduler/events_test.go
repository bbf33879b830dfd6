package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// TestLogEvents: every kind's runs end with one event whose message is
// the operation, with the same keys for every kind; a refresh that moved
// nothing is at DEBUG; no event names its job or error under other keys.
func TestLogEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var buf lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kinds := map[replication.Table]replication.Kind{}
	for i, k := range mixedKinds {
		kinds[b.job(t, k, fmt.Sprintf("e%d_%s", i, k), time.Hour)] = k
	}
	s, err := scheduler.New(b.Dest, b.config(scheduler.Config{Logger: logger}))
	require.NoError(t, err)
	for tbl, k := range kinds {
		b.change(t, tbl, k, 0)
	}
	b.makeDue(t)
	require.NoError(t, s.RunDue(ctx)) // every kind moves rows
	b.makeDue(t)
	require.NoError(t, s.RunDue(ctx)) // nothing changed: only whole-table kinds move rows

	refreshes := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		for _, bad := range []string{"err", "table", "dest"} {
			require.NotContains(t, rec, bad, "key %q in %s", bad, line)
		}
		if rec["msg"] != "refresh" {
			continue
		}
		for _, key := range []string{"kind", "dest_schema", "dest_table", "rows", "bytes", "duration", "skipped"} {
			require.Contains(t, rec, key, line)
		}
		require.NotContains(t, rec["dest_table"], `"`, "unquoted")
		kind := rec["kind"].(string)
		refreshes[kind] = append(refreshes[kind], rec)
	}
	require.Len(t, refreshes, len(mixedKinds), "a refresh event of every kind")
	for kind, recs := range refreshes {
		require.Len(t, recs, 2, kind)
		require.Equal(t, "INFO", recs[0]["level"], kind)
		if kind != string(replication.KindSnapshot) && kind != string(replication.KindTableReload) {
			require.Equal(t, 0.0, recs[1]["rows"], kind)
			require.Equal(t, "DEBUG", recs[1]["level"], "%s: a refresh that moved nothing is routine", kind)
		}
	}
}
