package snapshot_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// A snapshot of a products table: set up, refreshed after a change,
// skipped when nothing changed, and destroyed keeping the last copy.
func ExampleSnapshot() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	if _, err := source.Exec(ctx, `CREATE TABLE public.products (id int PRIMARY KEY, name text, price numeric(8,2));
		INSERT INTO public.products SELECT g, 'product ' || g, g * 2.5 FROM generate_series(1, 1000) g;
		SELECT pg_stat_force_next_flush()`); err != nil {
		log.Fatal(err)
	}

	// SkipUnchanged: a refresh skips the pull when the source's statistics
	// show no change (see its documentation for what that guarantees).
	snap, err := snapshot.New(source, dest, replication.T("public", "products"), &snapshot.Config{SkipUnchanged: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := snap.Setup(ctx); err != nil {
		log.Fatal(err)
	}

	// Change the source, and have the session publish its statistics at
	// once (PostgreSQL does so by itself within a second or so).
	if _, err := source.Exec(ctx, `DELETE FROM public.products WHERE id > 900; SELECT pg_stat_force_next_flush()`); err != nil {
		log.Fatal(err)
	}
	res, err := snap.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refresh: rows", res.Inserted, "skipped", res.Skipped)

	res, err = snap.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refresh again: skipped", res.Skipped, "-", res.SkipReason)

	var n int
	var kind string
	if err := dest.QueryRow(ctx, `SELECT count(*), (SELECT relkind::text FROM pg_class WHERE oid = 'public.products'::regclass) FROM public.products`).Scan(&n, &kind); err != nil {
		log.Fatal(err)
	}
	fmt.Println("destination:", n, "rows in a relation of kind", kind)

	if err := snap.Destroy(ctx, &replication.DestroyOptions{KeepTable: true}); err != nil {
		log.Fatal(err)
	}
	if err := dest.QueryRow(ctx, `SELECT count(*), (SELECT relkind::text FROM pg_class WHERE oid = 'public.products'::regclass) FROM public.products`).Scan(&n, &kind); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after destroy:", n, "rows in a relation of kind", kind)
	// Output:
	// refresh: rows 900 skipped false
	// refresh again: skipped true - the source's published statistics show no insert, update, delete or truncate since the last refresh
	// destination: 900 rows in a relation of kind v
	// after destroy: 900 rows in a relation of kind r
}
