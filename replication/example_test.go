package replication_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func ExampleParseTable() {
	t, _ := replication.ParseTable(`Sales."Order-Lines"`)
	fmt.Println(t.Schema, "|", t.Name, "|", t.Sanitize())
	// Output: sales | Order-Lines | "sales"."Order-Lines"
}

func ExampleTable_Sanitize() {
	fmt.Println(replication.T("public", `we"ird name`).Sanitize())
	// Output: "public"."we""ird name"
}

// Two sessions refresh the same destination table: the second is refused
// at once, as it did not ask to wait.
func ExampleAcquireLock() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	a, _ := pgx.Connect(ctx, dbs.DSNs[0])
	b, _ := pgx.Connect(ctx, dbs.DSNs[0])
	defer a.Close(ctx)
	defer b.Close(ctx)

	orders := replication.T("public", "orders")
	lock, err := replication.AcquireLock(ctx, a, orders, nil)
	fmt.Println("first:", err)
	_, err = replication.AcquireLock(ctx, b, orders, nil)
	fmt.Println("second locked:", errors.Is(err, replication.ErrLocked))
	_ = lock.Release(ctx)
	lock, err = replication.AcquireLock(ctx, b, orders, nil)
	fmt.Println("after release:", err)
	_ = lock.Release(ctx)
	// Output:
	// first: <nil>
	// second locked: true
	// after release: <nil>
}

// Describe finds a table's columns and the key that identifies its rows.
func ExampleDescribe() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	conn, _ := pgx.Connect(ctx, dbs.DSNs[0])
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `CREATE TEMP TABLE lines (order_id int, line int, sku text, PRIMARY KEY (order_id, line))`)
	var schema string
	_ = conn.QueryRow(ctx, `SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()`).Scan(&schema)

	info, err := replication.Describe(ctx, conn, replication.T(schema, "lines"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range info.Columns {
		fmt.Println(c.Name, c.Type)
	}
	key, _ := info.KeyColumns()
	fmt.Println("key:", key)
	// Output:
	// order_id integer
	// line integer
	// sku text
	// key: [order_id line]
}
