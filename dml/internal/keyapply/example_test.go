package keyapply_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// A batch of changes held as values is applied to a destination table in
// one transaction: key 2 changed, key 3 was deleted, key 4 is new.
func ExampleStageBatch() {
	ctx := context.Background()
	ex := pgtest.MustExample(ctx, 1)
	defer ex.Close()
	db := ex.Pools[0]
	if _, err := db.Exec(ctx, `CREATE TABLE kv (k int PRIMARY KEY, v text);
		INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three')`); err != nil {
		panic(err)
	}
	info, err := replication.Describe(ctx, db, replication.T("public", "kv"))
	if err != nil {
		panic(err)
	}
	spec := &keyapply.TableSpec{Source: info.Table, Dest: info.Table, Columns: info.Columns, DestColumns: info.Columns, Key: []string{"k"}}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		b, err := keyapply.StageBatch(ctx, tx, spec, keyapply.Plain)
		if err != nil {
			return err
		}
		if _, err := b.AddRows(ctx, pgx.CopyFromRows([][]any{{2, "TWO"}, {4, "four"}})); err != nil {
			return err
		}
		if _, err := b.AddKeys(ctx, pgx.CopyFromRows([][]any{{3}})); err != nil {
			return err
		}
		c, err := b.Apply(ctx)
		fmt.Printf("%d inserted, %d updated, %d deleted\n", c.Inserted, c.Updated, c.Deleted)
		return err
	})
	if err != nil {
		panic(err)
	}
	r, _ := db.Query(ctx, `SELECT format('%s=%s', k, v) FROM kv ORDER BY k`)
	rows, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		panic(err)
	}
	fmt.Println(rows)
	// Output:
	// 1 inserted, 1 updated, 1 deleted
	// [1=one 2=TWO 4=four]
}
