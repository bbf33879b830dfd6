package check_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

func TestChecksumJob(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL("accounts", 2000))
	pgtest.MustExec(t, b.Dest, accountsDDL("accounts", 2000)+`CREATE SCHEMA copies;
		CREATE TABLE copies.snap AS SELECT aid, abalance FROM accounts WHERE bid = 1 AND aid % 3 = 0;
		CREATE VIEW copies.snap_view AS SELECT * FROM copies.snap;
		CREATE TABLE copies.incr AS SELECT * FROM accounts WHERE aid <= 1500;
		CREATE TABLE copies.logdel AS SELECT *, NULL::timestamptz AS mimeo_source_deleted FROM accounts;
		CREATE TABLE copies.dml AS SELECT * FROM accounts;
		INSERT INTO copies.logdel VALUES (3000, 1, 0, 'deleted on the source', now(), now());
		DROP TABLE accounts;`)
	for _, j := range []*replication.Job{
		{Kind: replication.KindSnapshot, Dest: replication.T("copies", "snap_view"),
			Config: json.RawMessage(`{"columns": ["aid", "abalance"], "condition": "aid % 3 = 0"}`)},
		{Kind: replication.KindUpdaterTime, Dest: replication.T("copies", "incr"), Config: json.RawMessage(`{"control": "at"}`)},
		{Kind: replication.KindLogDel, Dest: replication.T("copies", "logdel")},
		{Kind: replication.KindDML, Dest: replication.T("copies", "dml"), Config: json.RawMessage(`{"key": ["bid", "aid"]}`)},
	} {
		j.SourceName, j.SourceTable = "default", accounts
		require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	}
	for _, dest := range []string{"snap_view", "incr", "logdel", "dml"} {
		res, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, replication.T("copies", dest), nil)
		require.NoError(t, err, dest)
		require.True(t, res.Match, "%s: %v", dest, res.Ranges)
	}
	res, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, replication.T("copies", "snap_view"), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"aid", "abalance"}, res.Columns)
	require.Equal(t, int64(666), res.SourceRows)
	require.Equal(t, []string{"aid"}, res.Key)
	// A DML job's ranges are by the key it replicates by.
	res, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, replication.T("copies", "dml"), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"bid", "aid"}, res.Key)

	pgtest.MustExec(t, b.Dest, `UPDATE copies.snap SET abalance = -1 WHERE aid = 300;
		UPDATE copies.incr SET filler = 'x' WHERE aid = 1499;
		UPDATE copies.logdel SET mimeo_source_deleted = now() WHERE aid = 5`)
	for dest, want := range map[string][]string{
		"snap_view": {"changed [300]"},
		"incr":      {"changed [1499]"},
		"logdel":    {"missing [5]"},
	} {
		res, err := check.ChecksumJob(ctx, b.Source, b.Dest, cat, replication.T("copies", dest), &check.ChecksumConfig{LeafRows: 10})
		require.NoError(t, err, dest)
		require.Equal(t, want, rowSet(t, res), dest)
	}
	_, err = check.ChecksumJob(ctx, b.Source, b.Dest, cat, replication.T("copies", "nope"), nil)
	require.ErrorIs(t, err, replication.ErrNotManaged)
}
