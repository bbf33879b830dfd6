package incremental_test

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// An append-only table with a sequence-fed key is replicated by that key:
// each refresh appends the rows above the last one pulled.
func Example() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	_, err := source.Exec(ctx, `CREATE TABLE events (id bigserial PRIMARY KEY, what text NOT NULL);
		INSERT INTO events (what) VALUES ('signup'), ('login'), ('logout')`)
	if err != nil {
		fmt.Println(err)
		return
	}

	events, err := incremental.NewInserter(source, dest, replication.T("public", "events"), &incremental.Config{
		Control: "id",
		// The key comes from a sequence and the writers' transactions are
		// short, so the pull need not stay behind the maximum.
		SerialBoundary: new(int64(0)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := events.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := source.Exec(ctx, `INSERT INTO events (what) VALUES ('login'), ('purchase')`); err != nil {
		fmt.Println(err)
		return
	}
	res, err := events.Refresh(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("inserted:", res.Inserted)

	rows, _ := dest.Query(ctx, `SELECT id, what FROM events ORDER BY id`)
	for rows.Next() {
		var id int64
		var what string
		_ = rows.Scan(&id, &what)
		fmt.Println(id, what)
	}
	// Output:
	// inserted: 2
	// 1 signup
	// 2 login
	// 3 logout
	// 4 login
	// 5 purchase
}
