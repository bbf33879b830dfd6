package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/advisory"
)

// lockClass is the first key of every pgmimeo advisory lock ("mime"), so
// they do not collide with single-key advisory locks of other software.
const lockClass = 0x6d696d65

// Locker is a session: a *pgx.Conn or a *pgxpool.Conn. The lock belongs to
// the session, so the same session must be used to release it.
type Locker interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Lock is a held advisory lock on a destination table.
type Lock struct {
	conn  Locker
	table Table
	held  bool
}

// refreshLock is the refresh lock of destination table t.
func refreshLock(t Table) advisory.Lock {
	return advisory.Lock{Class: lockClass, Name: t.Sanitize()}
}

// AcquireSetupLock takes the refresh lock of destination table t on conn
// for a Setup, waiting as long as ctx allows. Every kind's Setup takes it
// before it looks at the destination and holds it to the end: concurrent
// Setups of one destination run one after the other, and each after the
// first finds the destination taken (ErrExists) rather than tripping over
// the first one's half-made objects.
func AcquireSetupLock(ctx context.Context, conn Locker, t Table) (*Lock, error) {
	forever := time.Duration(0)
	return AcquireLock(ctx, conn, t, &forever)
}

// AcquireLock takes the refresh lock of destination table t on conn, with
// mimeo's wait semantics: wait nil does not wait, a positive wait waits that
// long, zero or negative waits until ctx ends. A lock held elsewhere yields a
// *TableError wrapping ErrLocked.
func AcquireLock(ctx context.Context, conn Locker, t Table, wait *time.Duration) (*Lock, error) {
	l := refreshLock(t)
	var got bool
	switch {
	case wait == nil:
		var err error
		if got, err = l.Try(ctx, conn); err != nil {
			return nil, fmt.Errorf("lock %s: %w", t, err)
		}
	default:
		// lock_timeout bounds the wait (0: none, whatever the session had
		// set); the session's own value is put back.
		timeout := "0"
		if *wait > 0 {
			timeout = fmt.Sprintf("%dms", max(wait.Milliseconds(), 1))
		}
		var previous string
		if err := conn.QueryRow(ctx, `SELECT pg_catalog.current_setting('lock_timeout'), pg_catalog.set_config('lock_timeout', $1, false)`,
			timeout).Scan(&previous, new(string)); err != nil {
			return nil, fmt.Errorf("lock %s: %w", t, err)
		}
		err := l.Wait(ctx, conn)
		_, rerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.set_config('lock_timeout', $1, false)`, previous)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable:
			got = false
		case err != nil:
			return nil, fmt.Errorf("lock %s: %w", t, err)
		default:
			got = true
		}
		if rerr != nil {
			if got {
				_ = l.Unlock(ctx, conn)
			}
			return nil, fmt.Errorf("lock %s: reset lock_timeout: %w", t, rerr)
		}
	}
	if !got {
		fix := "another refresh of this table holds its lock; retry later or set Options.LockWait"
		return nil, &TableError{Table: t, Err: ErrLocked, Fix: fix}
	}
	return &Lock{conn: conn, table: t, held: true}, nil
}

// Release lets the lock go. It is safe to call more than once. When the
// session has died the server has already released the lock.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil || !l.held {
		return nil
	}
	l.held = false
	if err := refreshLock(l.table).Unlock(ctx, l.conn); err != nil {
		return fmt.Errorf("unlock %s: %w", l.table, err)
	}
	return nil
}

// IsLocked reports whether some session holds the refresh lock of t in
// db's database (advisory locks are per database).
func IsLocked(ctx context.Context, db Locker, t Table) (bool, error) {
	return refreshLock(t).Held(ctx, db)
}
