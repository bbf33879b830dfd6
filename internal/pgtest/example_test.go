package pgtest_test

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// A program (or an Example) that needs a throwaway server starts its own and
// stops it when done; tests use Setup instead.
func ExampleStartServer() {
	ctx := context.Background()
	s, err := pgtest.StartServer(ctx, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)
	var level string
	_ = conn.QueryRow(ctx, "SHOW wal_level").Scan(&level)
	fmt.Println("wal_level:", level)
	// Output: wal_level: logical
}
