package copypipe_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// Copy streams the result of a query on one database into a table of
// another, without decoding rows.
func ExampleCopy() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	src, _ := pgx.Connect(ctx, dbs.DSNs[0])
	dst, _ := pgx.Connect(ctx, dbs.DSNs[1])
	defer src.Close(ctx)
	defer dst.Close(ctx)
	_, _ = src.Exec(ctx, `CREATE TABLE t AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 1000) g`)
	_, _ = dst.Exec(ctx, `CREATE TABLE t (id int, label text)`)

	st, err := copypipe.Copy(ctx, src.PgConn(), dst.PgConn(), copypipe.Spec{
		Query: `SELECT id, label FROM t WHERE id % 2 = 0`, Dest: `"t"`, Binary: true})
	fmt.Println(st.Rows, err)
	var last string
	_ = dst.QueryRow(ctx, `SELECT label FROM t ORDER BY id DESC LIMIT 1`).Scan(&last)
	fmt.Println(last)
	// Output:
	// 500 <nil>
	// row 1000
}
