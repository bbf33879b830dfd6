package snapshot_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRefreshPath sets up a snapshot job, changes the source and refreshes
// once; with PGMIMEO_PATH_SETUP_ONLY set it stops before the refresh.
// .ci/refresh-path compares the coverage of both runs to list the files a
// refresh runs code in, from Refresh to the destination commit.
func TestRefreshPath(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.change(t, `CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2))`)
	b.change(t, `INSERT INTO public.orders SELECT g, 'c' || g % 17, g * 1.5 FROM generate_series(1, 1000) g`)
	s := b.newSnap(t, "public.orders", nil)
	require.NoError(t, s.Setup(ctx))
	b.change(t, `UPDATE public.orders SET total = total + 1 WHERE id % 3 = 0`)
	if os.Getenv("PGMIMEO_PATH_SETUP_ONLY") != "" {
		return
	}
	_, err := s.Refresh(ctx)
	require.NoError(t, err)
	b.same(t, "SELECT * FROM public.orders", "public.orders")
}
