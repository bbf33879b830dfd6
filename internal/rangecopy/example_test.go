package rangecopy_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/internal/rangecopy"
)

// Apply replaces the destination's rows of a key range with the source's.
func ExampleApply() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	src, _ := pgx.Connect(ctx, dbs.DSNs[0])
	dst, _ := pgx.Connect(ctx, dbs.DSNs[1])
	defer src.Close(ctx)
	defer dst.Close(ctx)
	_, _ = src.Exec(ctx, `CREATE TABLE t AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 10) g`)
	_, _ = dst.Exec(ctx, `CREATE TABLE t AS SELECT g AS id, 'stale ' || g AS label FROM generate_series(1, 12) g`)

	tx, _ := dst.Begin(ctx)
	st, err := rangecopy.Apply(ctx, src.PgConn(), tx, rangecopy.Spec{
		Source: `"t"`, Target: `"t"`, Columns: []string{"id", "label"},
		Key: []rangecopy.Key{{Name: "id", Type: "integer"}},
	}, []rangecopy.Range{{From: []string{"9"}}})
	fmt.Println(st.Deleted, st.Inserted, err)
	_ = tx.Commit(ctx)
	rows, _ := dst.Query(ctx, `SELECT label FROM t WHERE id >= 8 ORDER BY id`)
	labels, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	fmt.Println(labels)
	// Output:
	// 4 2 <nil>
	// [stale 8 row 9 row 10]
}
