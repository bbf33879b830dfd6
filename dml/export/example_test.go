package export_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Export a table's changes to a directory, import them on the other side
// and acknowledge them.
func Example() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	const ddl = `CREATE TABLE public.notes (id serial PRIMARY KEY, body text)`
	_, _ = source.Exec(ctx, ddl+`; INSERT INTO public.notes (body) VALUES ('one'), ('two'), ('three')`)
	_, _ = dest.Exec(ctx, ddl)
	dir, _ := os.MkdirTemp("", "example-export-")
	defer os.RemoveAll(dir)

	ex, _ := export.NewExporter(source, replication.T("public", "notes"), nil)
	im, _ := export.NewImporter(dest, nil)
	if err := ex.Install(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := im.Install(ctx); err != nil {
		fmt.Println(err)
		return
	}
	target := export.Target{Host: "branch-office", Database: "notes"}
	ship := func() {
		res, err := ex.Export(ctx, target, dir)
		if err != nil {
			fmt.Println(err)
			return
		}
		r, err := im.Import(ctx, res.Dir)
		if err != nil {
			fmt.Println(err)
			return
		}
		ok, err := ex.Acknowledge(ctx, r.AckPath)
		fmt.Printf("batch %d full=%v keys=%d rows=%d: %+v acknowledged=%v %v\n",
			res.Manifest.Batch, res.Manifest.Full, res.Manifest.IDs.Rows, res.Manifest.Rows.Rows, r.Counts, ok, err)
	}
	ship()
	_, _ = source.Exec(ctx, `UPDATE public.notes SET body = 'TWO' WHERE id = 2; DELETE FROM public.notes WHERE id = 3;
		INSERT INTO public.notes (body) VALUES ('four')`)
	ship()
	var bodies []string
	rows, _ := dest.Query(ctx, `SELECT body FROM public.notes ORDER BY id`)
	bodies, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	fmt.Println(bodies)
	// Output:
	// batch 1 full=true keys=3 rows=3: {Inserted:3 Updated:0 Deleted:0} acknowledged=true <nil>
	// batch 2 full=false keys=3 rows=2: {Inserted:1 Updated:1 Deleted:1} acknowledged=true <nil>
	// [one TWO four]
}
