package replication_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
)

func TestJobSettings(t *testing.T) {
	t.Parallel()
	// A kind's config that embeds Options as encoding/json writes it.
	type incrementalConfig struct {
		replication.Options
		Control  string
		Boundary string
	}
	embedded, err := json.Marshal(incrementalConfig{Options: replication.Options{Columns: []string{"id", "At"}, Condition: "WHERE id > 3"}, Control: "At"})
	require.NoError(t, err)
	for _, tc := range []struct {
		config string
		want   replication.JobSettings
	}{
		{string(embedded), replication.JobSettings{Columns: []string{"id", "At"}, Condition: "WHERE id > 3", Control: "At"}},
		{`{"columns": ["a"], "condition": "a > 1", "control_column": "t"}`, replication.JobSettings{Columns: []string{"a"}, Condition: "a > 1", Control: "t"}},
		{`{}`, replication.JobSettings{}},
		{``, replication.JobSettings{}},
	} {
		j := &replication.Job{Dest: replication.T("public", "d"), Config: json.RawMessage(tc.config)}
		got, err := j.Settings()
		require.NoError(t, err, tc.config)
		require.Equal(t, tc.want, got, tc.config)
	}
	// The incremental package's own config: "columns" is what setup
	// resolved, "filter" what the caller asked for.
	inc := &replication.Job{Kind: replication.KindInserterTime, Dest: replication.T("public", "d"),
		Config: json.RawMessage(`{"updater": false, "control": "at", "columns": ["id", "at", "v"], "condition": "v > 0"}`)}
	got, err := inc.Settings()
	require.NoError(t, err)
	require.Equal(t, replication.JobSettings{Condition: "v > 0", Control: "at"}, got)
	inc.Config = json.RawMessage(`{"control": "at", "columns": ["id", "at"], "filter": ["id", "at"]}`)
	got, err = inc.Settings()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "at"}, got.Columns)

	// DML jobs name the key they replicate by; other kinds' "key" means
	// nothing to the checks.
	dml := &replication.Job{Kind: replication.KindDML, Dest: replication.T("public", "d"),
		Config: json.RawMessage(`{"key": ["b", "a"], "columns": ["a", "b", "c"], "filter": ["a", "b"]}`)}
	got, err = dml.Settings()
	require.NoError(t, err)
	require.Equal(t, replication.JobSettings{Columns: []string{"a", "b"}, Key: []string{"b", "a"}}, got)
	dml.Kind = replication.KindSnapshot
	got, err = dml.Settings()
	require.NoError(t, err)
	require.Empty(t, got.Key)

	_, err = (&replication.Job{Dest: replication.T("public", "d"), Config: json.RawMessage(`["not", "an", "object"]`)}).Settings()
	var tabErr *replication.TableError
	require.ErrorAs(t, err, &tabErr)
	require.Equal(t, replication.T("public", "d"), tabErr.Table)
}
