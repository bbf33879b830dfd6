package dml_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// A column added on the source of a DML job is reported by the catalog-wide
// drift check unless the job's column filter leaves it out on purpose.
func TestSourceColumnDriftOfDMLJobs(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE whole (id int PRIMARY KEY, v text);
		CREATE TABLE part (id int PRIMARY KEY, v text, secret text)`)
	r, err := dml.New(b.Source, b.Dest, replication.T("public", "whole"), nil)
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	r, err = dml.New(b.Source, b.Dest, replication.T("public", "part"), &dml.Config{Options: replication.Options{Columns: []string{"id", "v"}}})
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))

	drift, err := check.CheckSourceColumns(ctx, b.Source, b.Dest, replication.NewCatalog(""), replication.DefaultSourceName)
	require.NoError(t, err)
	require.Empty(t, drift)

	pgtest.MustExec(t, b.Source, `ALTER TABLE whole ADD COLUMN added int; ALTER TABLE part ADD COLUMN added int`)
	drift, err = check.CheckSourceColumns(ctx, b.Source, b.Dest, replication.NewCatalog(""), replication.DefaultSourceName)
	require.NoError(t, err)
	require.Len(t, drift, 1, "%v", drift)
	require.Equal(t, replication.T("public", "whole"), drift[0].Source)
	require.Equal(t, "added", drift[0].Column)
}
