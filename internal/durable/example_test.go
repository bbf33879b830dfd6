package durable_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// The transaction's commit is durable even where the role commits
// asynchronously by default.
func ExampleInTx() {
	ctx := context.Background()
	ex := pgtest.MustExample(ctx, 1)
	defer ex.Close()
	db, err := ex.Pools[0].Acquire(ctx)
	if err != nil {
		panic(err)
	}
	defer db.Release()
	if _, err := db.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		panic(err)
	}
	err = durable.InTx(ctx, db, func(tx pgx.Tx) error {
		var s string
		if err := tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&s); err != nil {
			return err
		}
		fmt.Println("synchronous_commit in the transaction:", s)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output: synchronous_commit in the transaction: on
}
