package snapshot_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// exampleDatabases starts a private PostgreSQL server with a source and a
// destination database, for the examples. stop closes the pools and stops
// the server.
func exampleDatabases(ctx context.Context) (source, dest *pgxpool.Pool, stop func(), err error) {
	srv, err := pgtest.StartServer(ctx, "")
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := srv.Connect(ctx, "postgres")
	if err != nil {
		_ = srv.Stop()
		return nil, nil, nil, err
	}
	defer conn.Close(ctx)
	for _, db := range []string{"shop", "reporting"} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			_ = srv.Stop()
			return nil, nil, nil, fmt.Errorf("create database %s: %w", db, err)
		}
	}
	source, err = pgxpool.New(ctx, srv.AdminDSN("shop"))
	if err == nil {
		dest, err = pgxpool.New(ctx, srv.AdminDSN("reporting"))
	}
	if err != nil {
		_ = srv.Stop()
		return nil, nil, nil, err
	}
	stop = func() {
		source.Close()
		dest.Close()
		_ = srv.Stop()
	}
	return source, dest, stop, nil
}
