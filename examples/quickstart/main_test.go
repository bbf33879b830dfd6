package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The quickstart runs end to end against two databases and leaves the
// source as it found it.
func TestQuickstartRuns(t *testing.T) {
	b := pgtest.Setup(t)
	require.NoError(t, run(context.Background(), b.SourceDSN, b.DestDSN, 5000))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT relname FROM pg_class WHERE relname LIKE 'quickstart%'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relname LIKE 'quickstart%'`))
	// The job log stays, as an audit trail.
	require.NotEmpty(t, pgtest.Rows(t, b.Dest, `SELECT job_name, status FROM jobmon.job_log`))
}
