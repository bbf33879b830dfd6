package dml

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/advisory"
)

// A jobLock is one of the advisory locks a logical job's Spool and
// refreshes coordinate by, on the destination database: its class, and
// the destination table's quoted name, as for the refresh lock (see
// package advisory).
type jobLock struct {
	advisory.Lock
	what string // what the lock guards, for messages
}

// spoolerLock is held by a running Spool for as long as it runs.
func (r *Replicator) spoolerLock() jobLock {
	return jobLock{advisory.Lock{Class: spoolerClass, Name: r.Dest().Sanitize()}, "the spooler lock"}
}

// spoolLock is held by whatever reads the slot: a spool read or a refresh.
func (r *Replicator) spoolLock() jobLock {
	return jobLock{advisory.Lock{Class: spoolLockClass, Name: r.Dest().Sanitize()}, "the spool lock"}
}

// lockPoll is how often a wait for a jobLock tries it again.
const lockPoll = 20 * time.Millisecond

// try takes the lock on conn if no session holds it, and reports whether
// it did.
func (l jobLock) try(ctx context.Context, conn *pgxpool.Conn) (bool, error) {
	got, err := l.Try(ctx, conn)
	return got, l.err("take", err)
}

// tryFor takes the lock on conn, waiting for it at most d; it reports
// whether it got it.
func (l jobLock) tryFor(ctx context.Context, conn *pgxpool.Conn, d time.Duration) (bool, error) {
	got, err := l.Poll(ctx, conn, time.Now().Add(d), lockPoll)
	return got, l.err("take", err)
}

// wait takes the lock on conn, waiting as long as ctx allows. It polls
// (advisory.Lock.Poll), so a lock_timeout does not cut the wait short.
func (l jobLock) wait(ctx context.Context, conn *pgxpool.Conn) error {
	_, err := l.Poll(ctx, conn, time.Time{}, lockPoll)
	return l.err("take", err)
}

// unlock lets the lock go; a lost session has let it go already.
func (l jobLock) unlock(ctx context.Context, conn *pgxpool.Conn) {
	_ = l.Unlock(ctx, conn)
}

// held reports whether some session of the database holds the lock,
// taking nothing.
func (l jobLock) held(ctx context.Context, conn *pgxpool.Conn) (bool, error) {
	held, err := l.Held(ctx, conn)
	return held, l.err("look for", err)
}

// err names the lock and its table in err from doing what; nil stays nil.
// A wait ended by ctx returns ctx's error as it is.
func (l jobLock) err(doing string, err error) error {
	if err == nil || err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return fmt.Errorf("%s %s of %s: %w", doing, l.what, l.Name, err)
}
