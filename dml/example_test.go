package dml_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func printRows(ctx context.Context, db *pgxpool.Pool, query string) {
	rows, _ := db.Query(ctx, query)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		fmt.Println(err)
	}
	for _, l := range lines {
		fmt.Println(" ", l)
	}
}

// Replicate a table's inserts, updates and deletes into another database.
func Example() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	_, err := source.Exec(ctx, `CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int);
		INSERT INTO orders VALUES (1, 'widget', 3), (2, 'gadget', 1), (3, 'gizmo', 7)`)
	if err != nil {
		fmt.Println(err)
		return
	}

	r, err := dml.New(source, dest, replication.T("public", "orders"), &dml.Config{
		Options: replication.Options{Dest: replication.T("public", "orders_copy")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = source.Exec(ctx, `UPDATE orders SET qty = 4 WHERE id = 1;
		DELETE FROM orders WHERE id = 2;
		INSERT INTO orders VALUES (4, 'doohickey', 2)`)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := r.Refresh(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("refresh: %d inserted, %d updated, %d deleted\n", res.Inserted, res.Updated, res.Deleted)
	printRows(ctx, dest, `SELECT format('%s %s %s', id, item, qty) FROM orders_copy ORDER BY id`)
	res, _ = r.Refresh(ctx)
	fmt.Println("again:", res.SkipReason)
	if err := r.Destroy(ctx, nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// refresh: 1 inserted, 1 updated, 1 deleted
	//   1 widget 4
	//   3 gizmo 7
	//   4 doohickey 2
	// again: no changes queued
}
