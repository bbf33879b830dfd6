package snapshot_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// Pulling production customers into a development table whose key comes
// from a sequence and which another table references.
func ExampleTable() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	if _, err := source.Exec(ctx, `CREATE TABLE public.customers (id int PRIMARY KEY, name text);
		INSERT INTO public.customers SELECT g, 'customer ' || g FROM generate_series(1, 250) g`); err != nil {
		log.Fatal(err)
	}
	if _, err := dest.Exec(ctx, `CREATE TABLE public.customers (id serial PRIMARY KEY, name text);
		CREATE TABLE public.tickets (id serial, customer_id int REFERENCES public.customers)`); err != nil {
		log.Fatal(err)
	}

	tbl, err := snapshot.NewTable(source, dest, replication.T("public", "customers"), &snapshot.TableConfig{
		Options:         replication.Options{AdoptDest: true},
		TruncateCascade: true,
		Sequences:       []replication.Table{replication.T("public", "customers_id_seq")},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tbl.Setup(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := source.Exec(ctx, `INSERT INTO public.customers VALUES (1000, 'big spender')`); err != nil {
		log.Fatal(err)
	}
	res, err := tbl.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loaded", res.Inserted, "rows")

	var next int
	if err := dest.QueryRow(ctx, `INSERT INTO public.customers (name) VALUES ('test user') RETURNING id`).Scan(&next); err != nil {
		log.Fatal(err)
	}
	fmt.Println("a new local customer gets id", next)
	// Output:
	// loaded 251 rows
	// a new local customer gets id 1001
}
