package dml

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
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

// filling returns the queue table (0 or 1) the trigger functions fill.
func (q *queue) filling(ctx context.Context, db queryRower) (int, error) {
	var v int
	if err := db.QueryRow(ctx, `SELECT filling FROM `+q.registry()+` WHERE queue_id = $1`, q.ID).Scan(&v); err != nil {
		return 0, fmt.Errorf("read which queue table of %s is filled: %w", q.Source, err)
	}
	return v, nil
}

// switchTo makes the trigger functions fill table i: it replaces them, and
// records i in the registry, in one transaction. A transaction that takes
// its lock on the source table after the commit runs the new functions
// (taking a lock makes a session catch up with catalog changes); one that
// held it before may go on running the old ones until it ends, which
// closeTable waits for.
func (q *queue) switchTo(ctx context.Context, db durable.Beginner, spec *keyapply.TableSpec, i int) error {
	err := durable.InTx(ctx, db, func(tx pgx.Tx) error {
		for _, stmt := range functionsSQL(q, spec, i) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE `+q.registry()+` SET filling = $2 WHERE queue_id = $1`, q.ID, i)
		return err
	})
	if err != nil {
		return queueError(q.Source, q.Schema, fmt.Sprintf("switch the queue to table %d", i), err)
	}
	return nil
}

// writersOf selects the locks that the transactions writing to table $1
// (regclass text), or to one of its partitions, hold on it, other than
// this session's.
const writersOf = `FROM pg_catalog.pg_locks l
	WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
	  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
	  AND l.relation IN (SELECT $1::pg_catalog.regclass UNION ALL SELECT relid FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass))
	  AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()`

// closeTable waits until no transaction can still add an entry to table i,
// which the trigger functions no longer fill: until every transaction that
// held a write lock on the source table (or one of its partitions) when it
// looked has ended. Only those can still run functions that fill table i;
// their entries are committed, or gone, when they end. It waits at most
// the DDL lock timeout times one more than the retries, as long as the
// lock waits of other queue statements may take, then fails with
// ErrWritersOpen.
func (q *queue) closeTable(ctx context.Context, db queryRower, cfg *Config, i int) error {
	var open []string
	if err := db.QueryRow(ctx, `SELECT COALESCE(pg_catalog.array_agg(DISTINCT l.virtualtransaction), '{}') `+writersOf,
		q.Source.Sanitize()).Scan(&open); err != nil {
		return fmt.Errorf("close queue table %s: list writers of %s: %w", q.Table(i), q.Source, err)
	}
	timeout, retries := cfg.DDLLock()
	deadline := time.Now().Add(timeout * time.Duration(retries+1))
	pause := time.Millisecond
	for len(open) > 0 {
		var pids []int32
		if err := db.QueryRow(ctx, `SELECT COALESCE(pg_catalog.array_agg(DISTINCT COALESCE(l.pid, 0)), '{}') `+writersOf+
			` AND l.virtualtransaction = ANY ($2)`, q.Source.Sanitize(), open).Scan(&pids); err != nil {
			return fmt.Errorf("close queue table %s: list writers of %s: %w", q.Table(i), q.Source, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return &replication.TableError{Table: q.Source, Err: fmt.Errorf("close queue table %s: %w", q.Table(i), ErrWritersOpen),
				Fix: fmt.Sprintf("transactions that were writing to the table when the refresh switched queue tables are still open "+
					"(backend pids %v; 0 is a prepared transaction): end them, or raise Options.DDLLockTimeout or Options.DDLRetries", pids)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("close queue table %s: %w", q.Table(i), ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
	return nil
}

// isEmpty reports whether table i holds no committed entry.
func (q *queue) isEmpty(ctx context.Context, db queryRower, i int) (bool, error) {
	var any bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+q.Table(i).Sanitize()+`)`).Scan(&any); err != nil {
		return false, fmt.Errorf("look into queue table %s: %w", q.Table(i), err)
	}
	return !any, nil
}

// truncate empties table i; the refresh that drained it has committed on
// the destination.
func (q *queue) truncate(ctx context.Context, db durable.Beginner, cfg *Config, i int) error {
	timeout, retries := cfg.DDLLock()
	err := sqltext.LockRetry(ctx, db, timeout, retries, func(tx pgx.Tx) error {
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
func (q *queue) nextClaim(ctx context.Context, db queryRower, i int, lo tid, max int64) (claim, error) {
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
