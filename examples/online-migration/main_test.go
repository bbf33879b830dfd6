package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example migrates a 20,000-row table under its writers and finds
// every row in the new shape.
func TestOnlineMigration(t *testing.T) {
	b := pgtest.Setup(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), b.SourceDSN, 20000, &out), out.String())
	require.Contains(t, out.String(), "checksum equal: true")
	require.Contains(t, out.String(), "Every row of the old table is in the new one")
	t.Log(out.String())
	require.Equal(t, []string{"(accounts_retired)", "(accounts_v2)"}, pgtest.Rows(t, b.Source,
		`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'`))
}
