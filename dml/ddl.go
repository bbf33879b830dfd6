package dml

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/durable"
)

// inTx runs fn in a transaction of db, committing when fn succeeds and
// rolling back (even when ctx has ended) when it fails. Every transaction
// dml commits is durable (see internal/durable): on the destination, its
// commit may be followed by a queue truncation or a slot confirmation on
// the source, which must never outrun it.
func inTx(ctx context.Context, db durable.Beginner, fn func(tx pgx.Tx) error) error {
	return durable.InTx(ctx, db, fn)
}
