package advisory

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Session is a database session: a *pgx.Conn or a *pgxpool.Conn.
type Session interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Lock names one advisory lock of a database.
type Lock struct {
	// Class is the first key: what the lock guards.
	Class int32
	// Name is hashed into the second key: a destination table's quoted
	// name.
	Name string
}

// keys are the lock's two keys as SQL, from parameters $1 (Class) and $2
// (Name).
const keys = `$1::int, pg_catalog.hashtext($2)`

// Try takes the lock on s if no session holds it, and reports whether it
// did. It never waits.
func (l Lock) Try(ctx context.Context, s Session) (bool, error) {
	var got bool
	err := s.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock(`+keys+`)`, l.Class, l.Name).Scan(&got)
	return got, err
}

// Wait takes the lock on s, blocking until it is free. The session's
// lock_timeout bounds the wait: past it, the server refuses with SQLSTATE
// 55P03 (lock_not_available).
func (l Lock) Wait(ctx context.Context, s Session) error {
	_, err := s.Exec(ctx, `SELECT pg_catalog.pg_advisory_lock(`+keys+`)`, l.Class, l.Name)
	return err
}

// Poll tries the lock every interval until it gets it, ctx ends or, unless
// it is zero, deadline passes; it reports whether it got it. Unlike Wait,
// a lock_timeout that a role or a database sets does not cut the wait
// short, and a wait that ends never cancels a statement (which would cost
// a pooled connection its session).
func (l Lock) Poll(ctx context.Context, s Session, deadline time.Time, interval time.Duration) (bool, error) {
	for {
		got, err := l.Try(ctx, s)
		if err != nil || got || (!deadline.IsZero() && time.Now().After(deadline)) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Unlock lets the lock go on s, the session that holds it, even when ctx
// has ended. A lost session has let it go already.
func (l Lock) Unlock(ctx context.Context, s Session) error {
	_, err := s.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.pg_advisory_unlock(`+keys+`)`, l.Class, l.Name)
	return err
}

// Held reports whether some session of s's database holds the lock. It
// reads the server's lock table and takes nothing, so it never stands in
// the way of a session about to take the lock.
func (l Lock) Held(ctx context.Context, s Session) (bool, error) {
	var held bool
	err := s.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory'
		AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
		AND classid = $1::int::oid AND objid = pg_catalog.hashtext($2)::oid AND objsubid = 2 AND granted)`,
		l.Class, l.Name).Scan(&held)
	return held, err
}
