package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example fans the source out to four shard databases, refreshes them
// after changes, finds their union equal to the source row by row, and
// cleans up after itself.
func TestShardingRuns(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	args := []string{"-source", b.SourceDSN, "-rows", "4000"}
	for range shards {
		_, dsn := b.NewDatabase(t)
		args = append(args, "-shard", dsn)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), args, &out), out.String())
	require.Equal(t, 2, strings.Count(out.String(), "equals the source, row by row"), out.String())
	require.Equal(t, shards, strings.Count(out.String(), "same as the source's rows"), out.String())
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relname LIKE 'sharding%'`))
}

// Four shards or none.
func TestShardingNeedsFourShards(t *testing.T) {
	err := run(context.Background(), []string{"-source", "postgres://x@localhost/x", "-shard", "postgres://x@localhost/y"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "-shard exactly 4 times")
}
