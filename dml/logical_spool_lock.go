package dml

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A jobLock is one of the advisory locks a logical job's Spool and
// refreshes coordinate by, on the destination database: the first key is
// its class, the second the hash of the destination table's quoted name,
// as for the refresh lock. Each is held by a session, not a transaction,
// so the end of the session lets it go.
type jobLock struct {
	class int32
	what  string // what the lock guards, for messages
	table string // the destination table, quoted
}

// spoolerLock is held by a running Spool for as long as it runs.
func (r *Replicator) spoolerLock() jobLock {
	return jobLock{class: spoolerClass, what: "the spooler lock", table: r.Dest().Sanitize()}
}

// spoolLock is held by whatever reads the slot: a spool read or a refresh.
func (r *Replicator) spoolLock() jobLock {
	return jobLock{class: spoolLockClass, what: "the spool lock", table: r.Dest().Sanitize()}
}

// try takes the lock on conn if no session holds it, and reports whether
// it did.
func (l jobLock) try(ctx context.Context, conn *pgxpool.Conn) (bool, error) {
	var got bool
	err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1, pg_catalog.hashtext($2))`, l.class, l.table).Scan(&got)
	if err != nil {
		return false, fmt.Errorf("take %s of %s: %w", l.what, l.table, err)
	}
	return got, nil
}

// tryFor takes the lock on conn, waiting for it at most d; it reports
// whether it got it.
func (l jobLock) tryFor(ctx context.Context, conn *pgxpool.Conn, d time.Duration) (bool, error) {
	return l.poll(ctx, conn, time.Now().Add(d))
}

// wait takes the lock on conn, waiting as long as ctx allows.
func (l jobLock) wait(ctx context.Context, conn *pgxpool.Conn) error {
	_, err := l.poll(ctx, conn, time.Time{})
	return err
}

// poll tries the lock every 20 ms until it gets it, ctx ends or, unless
// it is zero, deadline passes. It polls rather than blocks, so a
// lock_timeout a role or database sets does not cut the wait short, and
// a wait that ends never cancels a statement (which would cost conn its
// session).
func (l jobLock) poll(ctx context.Context, conn *pgxpool.Conn, deadline time.Time) (bool, error) {
	for {
		got, err := l.try(ctx, conn)
		if err != nil || got || (!deadline.IsZero() && time.Now().After(deadline)) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// unlock lets the lock go; a lost session has let it go already.
func (l jobLock) unlock(ctx context.Context, conn *pgxpool.Conn) {
	_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.pg_advisory_unlock($1, pg_catalog.hashtext($2))`, l.class, l.table)
}

// held reports whether some session of the database holds the lock. It
// reads the server's lock table and takes nothing, so it never stands in
// the way of a session about to take the lock.
func (l jobLock) held(ctx context.Context, conn *pgxpool.Conn) (bool, error) {
	var held bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory'
		AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
		AND classid = $1::int::oid AND objid = pg_catalog.hashtext($2)::oid AND objsubid = 2 AND granted)`,
		l.class, l.table).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("look for %s of %s: %w", l.what, l.table, err)
	}
	return held, nil
}
