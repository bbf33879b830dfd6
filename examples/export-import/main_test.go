package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example runs end to end between two databases and leaves no table
// or trigger behind.
func TestExportImportRuns(t *testing.T) {
	b := pgtest.Setup(t)
	require.NoError(t, run(context.Background(), b.SourceDSN, b.DestDSN, t.TempDir()))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relname LIKE 'export_demo%'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relname LIKE 'export_demo%'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`))
	// The destination's record stays, as an audit trail.
	require.Equal(t, []string{"(export_demo_orders,3)"}, pgtest.Rows(t, b.Dest, `SELECT dest_table, batch FROM mimeo_import.applied_batch`))
}
