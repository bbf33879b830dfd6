package durable

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Beginner starts transactions: a pool, a pooled connection, a connection
// or a transaction (a savepoint then, whose commit is the outer one's).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// setSync is sent first in every transaction of this package.
const setSync = `SET LOCAL synchronous_commit = on`

// Begin begins a transaction on db whose commit is durable whatever the
// server, database or role sets for synchronous_commit.
func Begin(ctx context.Context, db Beginner) (pgx.Tx, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.Exec(ctx, setSync); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("make the commit durable: %w", err)
	}
	return tx, nil
}

// InTx runs fn in a transaction begun by Begin, committing when fn
// succeeds and rolling back (even when ctx has ended) when it fails. A
// failed begin or commit is wrapped as "begin: …" or "commit: …", so the
// caller's message says which step of the transaction failed.
func InTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	tx, err := Begin(ctx, db)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
