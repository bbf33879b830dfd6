package snapshot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// A worker that knows only the destination rebuilds both kinds of job from
// the catalog, with the options recorded at setup (filter, condition), and
// refreshes them.
func TestOpenRebuildsJobsFromCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE public.items (id int PRIMARY KEY, name text, secret text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO public.items SELECT g, 'n' || g, 's' || g FROM generate_series(1, 100) g`)
	filter := replication.Options{Columns: []string{"id", "name"}, Condition: "id % 2 = 0", SkipIndexes: true}

	snapOpts := filter
	snapOpts.Dest = replication.T("public", "items_snap")
	s, err := snapshot.New(b.Source, b.Dest, replication.T("public", "items"), &snapshot.Config{Options: snapOpts})
	require.NoError(t, err)
	require.NoError(t, s.Setup(ctx))
	tblOpts := filter
	tblOpts.Dest = replication.T("public", "items_table")
	tbl, err := snapshot.NewTable(b.Source, b.Dest, replication.T("public", "items"), &snapshot.TableConfig{Options: tblOpts})
	require.NoError(t, err)
	require.NoError(t, tbl.Setup(ctx))

	b.change(t, `UPDATE public.items SET name = name || '!' WHERE id <= 10`)
	b.change(t, `INSERT INTO public.items VALUES (200, 'new', 'x')`)
	want := pgtest.Rows(t, b.Source, `SELECT id, name FROM public.items WHERE id % 2 = 0`)

	os, err := snapshot.Open(ctx, b.Source, b.Dest, replication.T("public", "items_snap"), nil)
	require.NoError(t, err)
	require.Equal(t, replication.T("public", "items"), os.Source())
	res, err := os.Refresh(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 51, res.Inserted)
	require.Equal(t, want, pgtest.Rows(t, b.Dest, `SELECT * FROM public.items_snap`))

	ot, err := snapshot.OpenTable(ctx, b.Source, b.Dest, replication.T("public", "items_table"), &snapshot.TableConfig{})
	require.NoError(t, err)
	_, err = ot.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, want, pgtest.Rows(t, b.Dest, `SELECT * FROM public.items_table`))

	// The wrong opener, or no job, is a typed error naming the table.
	_, err = snapshot.Open(ctx, b.Source, b.Dest, replication.T("public", "items_table"), nil)
	require.ErrorIs(t, err, replication.ErrWrongKind)
	_, err = snapshot.OpenTable(ctx, b.Source, b.Dest, replication.T("public", "items_snap"), nil)
	require.ErrorIs(t, err, replication.ErrWrongKind)
	_, err = snapshot.Open(ctx, b.Source, b.Dest, replication.T("public", "nothing"), nil)
	require.ErrorIs(t, err, replication.ErrNotManaged)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, replication.T("public", "nothing"), te.Table)
}
