package pgmimeotest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/pgmimeotest"
)

// A throwaway server with a database of its own.
func Example() {
	ctx := context.Background()
	srv, err := pgmimeotest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	dsn, err := srv.CreateDatabase(ctx, "example_db")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&level); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wal_level:", level)
	// Output: wal_level: logical
}
