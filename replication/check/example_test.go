package check_test

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// A DBA checks that a copy of a table holds the same rows as its source:
// the checksum names the key ranges that differ and, in them, the rows.
func ExampleChecksum() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	src, dest := dbs.Pools[0], dbs.Pools[1]
	const orders = `CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric);
		INSERT INTO orders SELECT i, 'customer ' || i % 97, i * 1.25 FROM generate_series(1, 10000) i`
	_, _ = src.Exec(ctx, orders)
	_, _ = dest.Exec(ctx, orders)
	// The copy has drifted: one row changed, one lost, one too many.
	_, _ = dest.Exec(ctx, `UPDATE orders SET total = 0 WHERE id = 4242;
		DELETE FROM orders WHERE id = 7;
		INSERT INTO orders VALUES (10001, 'ghost', 1)`)

	t := replication.T("public", "orders")
	res, err := check.Checksum(ctx, src, dest, t, t, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("match:", res.Match, "source rows:", res.SourceRows, "destination rows:", res.DestRows)
	for _, r := range res.Ranges {
		for _, d := range r.Rows {
			fmt.Printf("%s: %s row %v\n", r, d.Change, d.Key)
		}
	}
	// Output:
	// match: false source rows: 10000 destination rows: 10000
	// key < (41): missing row [7]
	// (4220) <= key < (4259): changed row [4242]
	// key >= (9963): extra row [10001]
}

// Before setting a job up, Preflight tells which kinds can replicate a
// table and what each impossible one lacks.
func ExamplePreflight() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	src := dbs.Pools[0]
	_, _ = src.Exec(ctx, `CREATE TABLE events (at timestamptz, payload jsonb)`)

	// The kinds to judge are the methods a worker would run.
	rep, err := check.Preflight(ctx, src, replication.T("public", "events"), &check.PreflightConfig{
		Methods: []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range rep.Kinds {
		how := string(k.Kind)
		if k.Logical {
			how += " (logical)"
		}
		if k.Possible {
			fmt.Println(how+":", "possible")
			continue
		}
		for _, m := range k.Missing {
			fmt.Println(how+":", "needs", m.Requirement)
		}
	}
	// Output:
	// snapshot: possible
	// table: possible
	// inserter_time: possible
	// inserter_serial: needs an integer control column
	// updater_time: needs a primary key or unique index
	// updater_serial: needs a primary key or unique index
	// updater_serial: needs an integer control column
	// dml: needs a primary key or unique index
	// dml (logical): needs a primary key or unique index
	// dml (logical): needs a replica identity with the key
	// logdel: needs a primary key or unique index
	// logdel (logical): needs a primary key or unique index
	// logdel (logical): needs a replica identity with the key
	// logdel (logical): needs REPLICA IDENTITY FULL
}
