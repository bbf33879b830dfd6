package incremental_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// A table whose rows are updated, each write stamping updated_at, is
// replicated by that time: each refresh replaces the changed rows by key.
// Late-commit mode lets the boundary be 0 without losing rows of
// transactions that commit after a refresh has passed their time.
func ExampleUpdater() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	_, err := source.Exec(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance numeric NOT NULL,
			updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE INDEX ON accounts (updated_at);
		INSERT INTO accounts (id, balance) VALUES (1, 100), (2, 200), (3, 300)`)
	if err != nil {
		fmt.Println(err)
		return
	}

	accounts, err := incremental.NewUpdater(source, dest, replication.T("public", "accounts"), &incremental.Config{
		Control:    "updated_at",
		Boundary:   new(time.Duration(0)),
		LateCommit: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := accounts.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = source.Exec(ctx, `UPDATE accounts SET balance = balance - 50, updated_at = DEFAULT WHERE id = 2;
		INSERT INTO accounts (id, balance) VALUES (4, 400)`)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := accounts.Refresh(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("inserted: %d, updated: %d\n", res.Inserted, res.Updated)

	rows, _ := dest.Query(ctx, `SELECT id, balance FROM accounts ORDER BY id`)
	for rows.Next() {
		var id int
		var balance string
		_ = rows.Scan(&id, &balance)
		fmt.Println(id, balance)
	}
	// Output:
	// inserted: 1, updated: 1
	// 1 100
	// 2 150
	// 3 300
	// 4 400
}
