package check_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// setupCatalog is pgtest.Setup with the default catalog migrated on the
// destination.
func setupCatalog(t *testing.T) (*pgtest.Bundle, *replication.Catalog) {
	t.Helper()
	b := pgtest.Setup(t)
	cat := replication.NewCatalog("")
	require.NoError(t, cat.Migrate(context.Background(), b.Dest))
	return b, cat
}
