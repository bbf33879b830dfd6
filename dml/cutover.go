package dml

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// DefaultCutoverLockTimeout is how long Cutover waits for the source
// table's lock when CutoverConfig.LockTimeout is 0.
const DefaultCutoverLockTimeout = 5 * time.Second

// ErrCutoverLock is wrapped by the error of a Cutover that could not lock
// the source table within its lock timeout; nothing was changed.
var ErrCutoverLock = errors.New("cutover could not lock the source table")

// ErrCutoverMismatch is wrapped by the error of a Cutover whose checksum
// found the destination different from the locked source; the source was
// released and nothing was switched.
var ErrCutoverMismatch = errors.New("cutover found the destination different from the source")

// CutoverConfig configures Cutover.
type CutoverConfig struct {
	// LockTimeout bounds the wait for the source table's lock (writers and
	// long transactions on the table hold it off). Default 0:
	// DefaultCutoverLockTimeout.
	LockTimeout time.Duration

	// Switch, when set, is called once the destination holds every change
	// and matches the source, with the source table still locked: switch
	// the application to the destination there. source is the source
	// transaction that holds the lock: statements run in it (renaming the
	// tables, say) commit when the source is released. An error from Switch
	// rolls that transaction back, releasing the source, and is returned.
	Switch func(ctx context.Context, source pgx.Tx) error

	// KeepLocked keeps the source table locked when Cutover returns, so
	// that no write reaches it after the switch: release it with
	// CutoverResult.Release (or end the process). Default false: Cutover
	// releases it.
	KeepLocked bool

	// SkipChecksum leaves out the checksum of the whole table, which is
	// most of the writers' pause on a large table. Default false.
	SkipChecksum bool
}

// CutoverResult is what Cutover did.
type CutoverResult struct {
	// LockWait is how long Cutover waited for the source table's lock.
	LockWait time.Duration
	// Pause is how long writers of the source table were stopped: from the
	// lock to its release, or to Cutover's return with KeepLocked.
	Pause time.Duration
	// Drained is what the refreshes under the lock applied.
	Drained replication.Result
	// Sequences are the destination sequences set (replication.SyncSequences).
	Sequences []replication.SequenceSync
	// Checksum is the final validation; nil with SkipChecksum.
	Checksum *check.ChecksumResult

	release func(ctx context.Context, commit bool) error
	locked  time.Time
}

// Release releases the source table a Cutover with KeepLocked left
// locked, committing what Switch ran in its transaction, and sets Pause to
// the time since the lock. Releasing twice is harmless.
func (c *CutoverResult) Release(ctx context.Context) error {
	return c.end(ctx, true)
}

func (c *CutoverResult) end(ctx context.Context, commit bool) error {
	if c.release == nil {
		return nil
	}
	err := c.release(ctx, commit)
	c.release = nil
	c.Pause = time.Since(c.locked)
	return err
}

// Cutover finishes the move of the source table to the destination, for
// both captures. It locks the source table against writes (EXCLUSIVE mode:
// readers go on, writers wait), waiting at most LockTimeout (an error
// wrapping ErrCutoverLock, and nothing changed, when it cannot); once it
// holds the lock every change committed before it is in the queue or the
// WAL, and Cutover refreshes until all of them are applied (reading the
// slot after the spool even while a Spool runs). It then sets
// the destination's sequences at or above the source's, checks the whole
// table by checksum (ErrCutoverMismatch when it differs), calls Switch, and
// releases the source (committing what Switch ran in the lock's
// transaction), or keeps it locked (KeepLocked). Writers wait
// during the pause (their own lock_timeout, if any, makes them fail with
// SQLSTATE 55P03 instead); none of their changes is lost: those committed
// before the lock are on the destination, those after it wait or fail.
//
// Cutover holds one source session for the lock while it refreshes: the
// source pool needs a connection more than a refresh does (three). The job
// itself stays: destroy it when the source is retired.
func (r *Replicator) Cutover(ctx context.Context, cfg *CutoverConfig) (*CutoverResult, error) {
	var c CutoverConfig
	if cfg != nil {
		c = *cfg
	}
	if c.LockTimeout <= 0 {
		c.LockTimeout = DefaultCutoverLockTimeout
	}
	res := &CutoverResult{}
	tx, err := r.source.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("cutover %s: begin on the source: %w", r.Dest(), err)
	}
	rollback := func(ctx context.Context) error { return tx.Rollback(context.WithoutCancel(ctx)) }
	end := func(ctx context.Context, commit bool) error {
		if commit {
			return tx.Commit(context.WithoutCancel(ctx))
		}
		return rollback(ctx)
	}
	start := time.Now()
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, fmt.Sprintf("%dms", c.LockTimeout.Milliseconds())); err != nil {
		_ = rollback(ctx)
		return nil, fmt.Errorf("cutover %s: %w", r.Dest(), err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+r.table.Sanitize()+` IN EXCLUSIVE MODE`); err != nil {
		_ = rollback(ctx)
		if sqltext.IsLockTimeout(err) {
			return nil, &replication.TableError{Table: r.table, Err: fmt.Errorf("%w within %v: %w", ErrCutoverLock, c.LockTimeout, err),
				Fix: "writers or a long transaction hold the source table: retry, or raise CutoverConfig.LockTimeout"}
		}
		return nil, fmt.Errorf("cutover %s: lock the source table: %w", r.Dest(), err)
	}
	res.locked = time.Now()
	res.LockWait = res.locked.Sub(start)
	res.release = end
	fail := func(err error) (*CutoverResult, error) {
		_ = res.end(ctx, false)
		return res, err
	}

	// Drain: every change committed before the lock is queued (or in the
	// WAL up to the flush position a refresh reads to).
	drainer := *r
	drainer.cfg.LockWait = replication.Wait(0) // wait for a worker's refresh in flight
	drainer.throughSlot = true                 // a running Spool has not read the last changes yet
	for {
		got, err := drainer.Refresh(ctx)
		if err != nil {
			return fail(fmt.Errorf("cutover %s: drain: %w", r.Dest(), err))
		}
		res.Drained.Inserted += got.Inserted
		res.Drained.Updated += got.Updated
		res.Drained.Deleted += got.Deleted
		res.Drained.Bytes += got.Bytes
		res.Drained.Duration += got.Duration
		if !got.More {
			break
		}
	}
	if res.Sequences, err = replication.SyncSequences(ctx, tx, r.dest, r.table, r.Dest()); err != nil {
		return fail(fmt.Errorf("cutover %s: %w", r.Dest(), err))
	}
	if !c.SkipChecksum {
		sum, err := check.ChecksumJob(ctx, r.source, r.dest, r.catalog, r.Dest(), nil)
		if err != nil {
			return fail(fmt.Errorf("cutover %s: checksum: %w", r.Dest(), err))
		}
		res.Checksum = sum
		if !sum.Match {
			return fail(&replication.TableError{Table: r.Dest(), Err: ErrCutoverMismatch,
				Fix: fmt.Sprintf("%d key range(s) differ: repair the job (scheduler.Repair) and cut over again", len(sum.Ranges))})
		}
	}
	if c.Switch != nil {
		if err := c.Switch(ctx, tx); err != nil {
			return fail(fmt.Errorf("cutover %s: switch: %w", r.Dest(), err))
		}
	}
	if c.KeepLocked {
		res.Pause = time.Since(res.locked)
		return res, nil
	}
	if err := res.Release(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return res, fmt.Errorf("cutover %s: release the source table: %w", r.Dest(), err)
	}
	return res, nil
}
