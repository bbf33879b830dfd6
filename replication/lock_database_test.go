package replication_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Advisory locks belong to one database: the refresh lock of a table in
// one database neither blocks nor shows in another that has a table of the
// same name.
func TestLockIsPerDatabase(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	tbl := replication.T("public", "same_name")
	lock, err := replication.AcquireLock(ctx, acquireConn(t, b.Source), tbl, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, lock.Release(ctx)) }()
	held, err := replication.IsLocked(ctx, b.Dest, tbl)
	require.NoError(t, err)
	require.False(t, held)
	held, err = replication.IsLocked(ctx, b.Source, tbl)
	require.NoError(t, err)
	require.True(t, held)
	other, err := replication.AcquireLock(ctx, acquireConn(t, b.Dest), tbl, nil)
	require.NoError(t, err)
	require.NoError(t, other.Release(ctx))
}
