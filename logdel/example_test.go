package logdel_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Keep rows deleted on the source, stamped with their deletion time.
func Example() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]

	_, err := source.Exec(ctx, `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, tier text);
		INSERT INTO customers VALUES (1, 'Ada', 'gold'), (2, 'Brian', 'silver'), (3, 'Chen', 'bronze')`)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := logdel.New(source, dest, replication.T("public", "customers"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// Brian's last change before his deletion is kept; key 3 is re-used.
	_, err = source.Exec(ctx, `UPDATE customers SET tier = 'platinum' WHERE id = 2;
		DELETE FROM customers WHERE id IN (2, 3);
		INSERT INTO customers VALUES (3, 'Dana', 'gold')`)
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
	rows, _ := dest.Query(ctx, `SELECT format('%s %s %s %s', id, name, tier,
		CASE WHEN mimeo_source_deleted IS NULL THEN 'live' ELSE 'deleted' END) FROM customers ORDER BY id`)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range lines {
		fmt.Println(" ", l)
	}
	// Output:
	// refresh: 0 inserted, 1 updated, 1 deleted
	//   1 Ada gold live
	//   2 Brian platinum deleted
	//   3 Dana gold live
}
