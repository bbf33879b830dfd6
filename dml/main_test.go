package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDML makes a replicator of src in the bundle and fails the test on error.
func newDML(t testing.TB, b *pgtest.Bundle, src replication.Table, cfg *dml.Config) *dml.Replicator {
	t.Helper()
	r, err := dml.New(b.Source, b.Dest, src, cfg)
	require.NoError(t, err)
	return r
}

// refresh refreshes r and fails the test on error.
func refresh(t testing.TB, r *dml.Replicator) replication.Result {
	t.Helper()
	res, err := r.Refresh(context.Background())
	require.NoError(t, err)
	return res
}

// requireSame compares the rows of a source query and a destination query.
func requireSame(t testing.TB, b *pgtest.Bundle, srcQuery, destQuery string) {
	t.Helper()
	require.Equal(t, pgtest.Rows(t, b.Source, srcQuery), pgtest.Rows(t, b.Dest, destQuery))
}
