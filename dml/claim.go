package dml

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// tid is a row position in a queue table. Queue tables are only appended to
// between truncations, so a position range is a stable, cheap claim on a
// run of entries: a TID range scan reads just those pages.
type tid struct {
	page uint32
	item uint16
}

// String returns the tid in PostgreSQL's text form, "(page,item)".
func (t tid) String() string { return fmt.Sprintf("(%d,%d)", t.page, t.item) }

// literal returns the tid as an SQL constant.
func (t tid) literal() string { return "'" + t.String() + "'::pg_catalog.tid" }

func parseTID(s string) (tid, error) {
	var t tid
	if s == "" {
		return t, nil
	}
	if _, err := fmt.Sscanf(s, "(%d,%d)", &t.page, &t.item); err != nil {
		return t, fmt.Errorf("parse queue position %q: %w", s, err)
	}
	return t, nil
}

func fromPgTID(p pgtype.TID) tid { return tid{page: p.BlockNumber, item: p.OffsetNumber} }

// rangeCond selects the entries of a queue table after lo up to hi.
func rangeCond(lo, hi tid) string {
	return "ctid > " + lo.literal() + " AND ctid <= " + hi.literal()
}

// queryRower runs single-row queries: a pool, a connection or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// filling returns the queue table (0 or 1) the trigger is filling.
func (q *Queue) filling(ctx context.Context, db queryRower) (int, error) {
	var v int
	if err := db.QueryRow(ctx, `SELECT last_value FROM `+q.Slot().Sanitize()).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the queue slot of %s: %w", q.Source, err)
	}
	return v, nil
}

// switchTo makes the trigger fill table i from now on. Sequences are not
// transactional: the switch is seen at once by every session.
func (q *Queue) switchTo(ctx context.Context, db queryRower, i int) error {
	var v int64
	if err := db.QueryRow(ctx, `SELECT pg_catalog.setval($1::pg_catalog.regclass, $2, true)`, q.Slot().Sanitize(), i).Scan(&v); err != nil {
		return fmt.Errorf("switch the queue of %s: %w", q.Source, err)
	}
	return nil
}

// closeTable waits until no transaction can still add an entry to table i
// (which the trigger no longer fills) that is not also in the other table:
// it takes, and at once lets go of, a lock that conflicts with every
// writer's, which waits for the writers holding theirs to end.
func (q *Queue) closeTable(ctx context.Context, db beginner, cfg *Config, i int) error {
	err := withLockRetry(ctx, db, cfg.ddlLockTimeout(), cfg.ddlRetries(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `LOCK TABLE `+q.Table(i).Sanitize()+` IN SHARE MODE`)
		return err
	})
	if err != nil {
		return fmt.Errorf("close queue table %s: %w", q.Table(i), err)
	}
	return nil
}

// isEmpty reports whether table i holds no committed entry.
func (q *Queue) isEmpty(ctx context.Context, db queryRower, i int) (bool, error) {
	var any bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+q.Table(i).Sanitize()+`)`).Scan(&any); err != nil {
		return false, fmt.Errorf("look into queue table %s: %w", q.Table(i), err)
	}
	return !any, nil
}

// truncate empties table i; the refresh that drained it has committed on
// the destination.
func (q *Queue) truncate(ctx context.Context, db beginner, cfg *Config, i int) error {
	err := withLockRetry(ctx, db, cfg.ddlLockTimeout(), cfg.ddlRetries(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `TRUNCATE `+q.Table(i).Sanitize())
		return err
	})
	if err != nil {
		return fmt.Errorf("truncate queue table %s: %w", q.Table(i), err)
	}
	return nil
}

// claim is a run of entries of one closed queue table.
type claim struct {
	table int
	lo    tid
	hi    tid
	// entries is the number of queue entries in the run.
	entries int64
	// last: no entry followed hi when the claim was made.
	last bool
}

// errNoEntries says a closed table has no entry after a position.
var errNoEntries = errors.New("no queue entries")

// nextClaim claims the next run of at most max entries (0: all) of closed
// table i after position lo, in storage order, which is arrival order for a
// table that is only appended to. Entries appended after the table was
// closed may be left out: they are in the other table too.
func (q *Queue) nextClaim(ctx context.Context, db queryRower, i int, lo tid, max int64) (claim, error) {
	c := claim{table: i, lo: lo}
	t := q.Table(i).Sanitize()
	rest := func() (claim, error) {
		var hi *pgtype.TID
		if err := db.QueryRow(ctx, `SELECT max(ctid), count(*) FROM `+t+` WHERE ctid > `+lo.literal()).Scan(&hi, &c.entries); err != nil {
			return c, fmt.Errorf("claim queue entries of %s: %w", q.Source, err)
		}
		if hi == nil || !hi.Valid || c.entries == 0 {
			return c, errNoEntries
		}
		c.hi, c.last = fromPgTID(*hi), true
		return c, nil
	}
	if max <= 0 {
		return rest()
	}
	var blocks int64
	if err := db.QueryRow(ctx, `SELECT pg_catalog.pg_relation_size($1::pg_catalog.regclass) / current_setting('block_size')::int8`, t).Scan(&blocks); err != nil {
		return c, fmt.Errorf("claim queue entries of %s: %w", q.Source, err)
	}
	// Look for the max-th entry in a window of pages that grows until it
	// holds that many entries or reaches the end of the table.
	window := max/200 + 2
	for {
		upper := tid{page: uint32(min(int64(lo.page)+window, 1<<32-1))}
		var hi pgtype.TID
		err := db.QueryRow(ctx, `SELECT ctid FROM `+t+` WHERE ctid > `+lo.literal()+` AND ctid < `+upper.literal()+
			` ORDER BY ctid OFFSET $1 LIMIT 1`, max-1).Scan(&hi)
		switch {
		case err == nil:
			c.hi, c.entries = fromPgTID(hi), max
			var more bool
			if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE ctid > `+c.hi.literal()+`)`).Scan(&more); err != nil {
				return c, fmt.Errorf("claim queue entries of %s: %w", q.Source, err)
			}
			c.last = !more
			return c, nil
		case errors.Is(err, pgx.ErrNoRows):
			if int64(lo.page)+window >= blocks {
				return rest()
			}
			window *= 4
		default:
			return c, fmt.Errorf("claim queue entries of %s: %w", q.Source, err)
		}
	}
}
