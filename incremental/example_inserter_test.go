package incremental_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// exampleDatabases starts a private server with a source and a destination
// database and returns pools on them and a function that stops it all.
func exampleDatabases(ctx context.Context) (source, dest *pgxpool.Pool, stop func(), err error) {
	srv, err := pgtest.StartServer(ctx, "")
	if err != nil {
		return nil, nil, nil, err
	}
	admin, err := pgxpool.New(ctx, srv.AdminDSN("postgres"))
	if err == nil {
		_, err = admin.Exec(ctx, "CREATE DATABASE shop")
	}
	if err == nil {
		_, err = admin.Exec(ctx, "CREATE DATABASE reports")
	}
	if admin != nil {
		admin.Close()
	}
	if err == nil {
		source, err = pgxpool.New(ctx, srv.AdminDSN("shop"))
	}
	if err == nil {
		dest, err = pgxpool.New(ctx, srv.AdminDSN("reports"))
	}
	stop = func() {
		if source != nil {
			source.Close()
		}
		if dest != nil {
			dest.Close()
		}
		_ = srv.Stop()
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return source, dest, stop, nil
}

// An append-only table with a sequence-fed key is replicated by that key:
// each refresh appends the rows above the last one pulled.
func Example() {
	ctx := context.Background()
	source, dest, stop, err := exampleDatabases(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	_, err = source.Exec(ctx, `CREATE TABLE events (id bigserial PRIMARY KEY, what text NOT NULL);
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
