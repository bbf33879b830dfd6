package dml

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/replication"
)

// maxClaim caps the queue entries of one claim: their keys are sorted on
// the source in one statement, and a claim interrupted by a crash is
// applied again from its start.
const maxClaim = 1000000

// claimWorkMem is the work_mem of the statement that streams a claim.
const claimWorkMem = "64MB"

// errStopped tells a stream's other end that this end gave up.
var errStopped = errors.New("stream stopped: the other side failed")

// staged is one piece of a claim, loaded into a destination transaction
// and ready to apply. The pieces of a claim hold disjoint sets of keys.
type staged struct {
	c     claim
	conn  *pgxpool.Conn
	tx    pgx.Tx
	batch *keyapply.Batch
	// last: the claim's last piece; its commit moves the queue position
	// past the claim.
	last bool
	// empty: the closed table had no entry left; only the state moves.
	empty bool
	// truncate, when not zero, is the commit time of a TRUNCATE of the
	// source (logical capture) to apply before the piece's rows.
	truncate time.Time
	err      error
}

// drainStats is what draining moved.
type drainStats struct {
	keyapply.Counts
	entries, keys, bytes int64
	chunks               int
}

// drain applies the entries of closed queue table i after the job's saved
// position, at most *budget of them when *budget > 0.
//
// Entries are claimed by position, in runs of up to maxClaim (or the
// budget). For each claim one source statement streams, per distinct key
// in key order, the key's current row (see changesQuery); the stream is cut
// into pieces of ChunkSize keys, each loaded into a transaction of one of
// two destination sessions, which take turns: one applies and commits a
// piece while the next piece streams into the other. The piece that ends a
// claim saves the queue position past it in its transaction. Since every
// key of a claim is in exactly one piece and applying is idempotent, a
// claim cut short by a failure is simply applied again from its start.
// With FetchFirst, a claim is one piece, fetched whole before it is
// applied. On return the job's state says where draining stands (Done when
// the table is drained).
func (r *Replicator) drain(ctx context.Context, j *job, src *pgxpool.Conn, i int, budget *int64, ds *drainStats) error {
	pos, err := parseTID(j.state.Queue.Pos)
	if err != nil {
		return err
	}
	chunk, sessions := r.pieces(j)
	remaining, limited := *budget, *budget > 0
	produce := func(ctx context.Context, set *sessionSet, out chan<- staged) {
		for {
			max := int64(maxClaim)
			if limited {
				if remaining <= 0 {
					return
				}
				max = min(max, remaining)
			}
			c, err := j.queue.nextClaim(ctx, src, i, pos, max)
			if errors.Is(err, errNoEntries) {
				conn, err := set.take(ctx)
				if err != nil {
					out <- staged{err: err}
					return
				}
				out <- staged{c: claim{table: i, lo: pos, hi: pos, last: true}, conn: conn, empty: true, last: true}
				return
			}
			if err != nil {
				out <- staged{err: err}
				return
			}
			f := fetch{query: changesQuery(j.queue, j.spec, c, r.variant.KeepsDeleted())}
			if !r.streamClaim(ctx, j, src, c, f, time.Time{}, chunk, set, out) || c.last {
				return
			}
			pos, remaining = c.hi, remaining-c.entries
		}
	}
	return r.runPieces(ctx, sessions, produce, func(ctx context.Context, s staged) error {
		if err := r.applyStaged(ctx, j, src, s, ds); err != nil {
			return err
		}
		if s.last {
			*budget -= s.c.entries
		}
		return nil
	})
}

// pieces returns the keys per destination transaction (0: all in one)
// and the number of destination sessions that take turns, from
// Config.ChunkSize and FetchFirst.
func (r *Replicator) pieces(j *job) (chunk, sessions int) {
	chunk, sessions = r.cfg.chunkSize(), 2
	if r.cfg.FetchFirst || j.cfg.FetchFirst {
		chunk, sessions = 0, 1
	}
	if r.dest.Config().MaxConns < 3 {
		sessions = 1 // the refresh lock holds one connection
	}
	return chunk, sessions
}

// sessionSet hands the producer of runPieces destination sessions: up to
// max of them, acquired when first needed (a refresh with nothing to apply
// acquires none), and handed back by the applier through free.
type sessionSet struct {
	pool *pgxpool.Pool
	max  int
	free chan *pgxpool.Conn
	// held are the sessions acquired; only the producer adds to it.
	held []*pgxpool.Conn
}

// take returns a session to load a piece into: a free one, a new one while
// fewer than max are held, else the next one handed back.
func (s *sessionSet) take(ctx context.Context) (*pgxpool.Conn, error) {
	select {
	case c := <-s.free:
		return c, nil
	default:
	}
	if len(s.held) < s.max {
		c, err := replication.AcquireLive(ctx, s.pool)
		if err != nil {
			return nil, fmt.Errorf("connect to destination: %w", err)
		}
		s.held = append(s.held, c)
		return c, nil
	}
	select {
	case c := <-s.free:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runPieces runs produce in a goroutine of its own, which loads pieces into
// transactions on sessions it takes from the set (at most sessions
// destination sessions) and sends them to out (closed when it returns),
// and applies each piece with apply in order, handing its session back for
// the next load. After a failure the pieces still coming are rolled back;
// the first error is returned.
func (r *Replicator) runPieces(ctx context.Context, sessions int, produce func(ctx context.Context, set *sessionSet, out chan<- staged),
	apply func(ctx context.Context, s staged) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	set := &sessionSet{pool: r.dest, max: sessions, free: make(chan *pgxpool.Conn, sessions)}
	out := make(chan staged, 1)
	go func() {
		defer close(out)
		produce(ctx, set, out)
	}()

	var firstErr error
	for s := range out {
		if firstErr == nil && s.err == nil {
			if err := apply(ctx, s); err != nil {
				s.err = err
			} else {
				set.free <- s.conn
				continue
			}
		}
		if s.tx != nil {
			_ = s.tx.Rollback(context.WithoutCancel(ctx))
		}
		if firstErr == nil {
			firstErr = s.err
			cancel()
		}
	}
	// out is closed: the producer is done with the set.
	for _, c := range set.held {
		c.Release()
	}
	return firstErr
}

// fetch is what streams a claim's rows from the source: prepare, when
// not nil, runs first in the source transaction; query is then copied
// out.
type fetch struct {
	query   string
	prepare func(ctx context.Context, tx pgx.Tx) error
}

// streamClaim streams claim c from the source with f and cuts it into
// pieces of at most chunk keys (0: one piece), each loaded into a
// transaction on a destination session of set and sent to out; the first
// piece carries truncate (see staged). It reports whether every piece was
// loaded; when not, the last item sent carries the error.
func (r *Replicator) streamClaim(ctx context.Context, j *job, src *pgxpool.Conn, c claim, f fetch, truncate time.Time, chunk int,
	set *sessionSet, out chan<- staged) bool {
	binary := j.spec.BinaryRows()
	format := "text"
	if binary {
		format = "binary"
	}
	query := `COPY (` + f.query + `) TO STDOUT (FORMAT ` + format + `)`
	pr, pw := io.Pipe()
	srcDone := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		// The claim's keys (and kept deleted rows) are sorted in memory
		// rather than in temporary files; values in text form are printed
		// as the destination reads them.
		err := durable.InTx(ctx, src, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, copypipe.TextSettings+`, pg_catalog.set_config('work_mem', $1, true)`, claimWorkMem); err != nil {
				return err
			}
			if f.prepare != nil {
				if err := f.prepare(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.Conn().PgConn().CopyTo(ctx, bw, query); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			err = fmt.Errorf("fetch changes of %s: %w", j.spec.Source, err)
		}
		pw.CloseWithError(err)
		srcDone <- err
	}()
	fail := func(s staged, err error) bool {
		pr.CloseWithError(errStopped)
		if serr := <-srcDone; serr != nil && !errors.Is(serr, errStopped) && !errors.Is(err, serr) {
			err = fmt.Errorf("%w (source: %v)", err, serr)
		}
		s.err = err
		out <- s
		return false
	}
	split := newTupleSplitter(pr, binary)
	for piece := 0; ; piece++ {
		var s staged
		var err error
		if s.conn, err = set.take(ctx); err != nil {
			return fail(s, err)
		}
		s.c = c
		if piece == 0 {
			s.truncate = truncate
		}
		start := time.Now()
		if s.tx, err = durable.Begin(ctx, s.conn); err != nil {
			return fail(s, fmt.Errorf("begin destination transaction: %w", err))
		}
		if s.batch, err = keyapply.StageBatch(ctx, s.tx, j.spec, r.variant); err != nil {
			return fail(s, err)
		}
		lr, lw := io.Pipe()
		loaded := make(chan error, 1)
		go func() {
			_, err := s.batch.CopyChanges(ctx, lr, binary)
			if err != nil {
				lr.CloseWithError(errStopped)
			}
			loaded <- err
		}()
		n, err := split.copyTuples(lw, chunk)
		lw.CloseWithError(err)
		if lerr := <-loaded; err == nil || errors.Is(err, errStopped) {
			if lerr != nil {
				err = lerr
			}
		}
		if err != nil {
			return fail(s, err)
		}
		more, err := split.more()
		if err != nil {
			return fail(s, err)
		}
		s.last = !more
		r.debug("fetched piece", "claim_entries", c.entries, "piece", piece, "keys", n, "time", time.Since(start))
		out <- s
		if !more {
			break
		}
	}
	if err := <-srcDone; err != nil {
		out <- staged{err: err}
		return false
	}
	return true
}

// applyStaged applies a loaded piece; the last piece of a claim also
// saves the queue position past the claim.
func (r *Replicator) applyStaged(ctx context.Context, j *job, src *pgxpool.Conn, s staged, ds *drainStats) error {
	phase := phase{SourcePID: src.Conn().PgConn().PID(), DestPID: s.conn.Conn().PgConn().PID()}
	if s.empty {
		j.state.Queue.Done = true
		return durable.InTx(ctx, s.conn, func(tx pgx.Tx) error { return r.catalog.SaveState(ctx, tx, j.row.ID, j.state) })
	}
	if err := runHook(ctx, r.hooks.afterFetch, phase); err != nil {
		return err
	}
	start := time.Now()
	counts, err := s.batch.Apply(ctx)
	if err != nil {
		return err
	}
	applied := time.Now()
	if err := runHook(ctx, r.hooks.midApply, phase); err != nil {
		return err
	}
	next := j.state
	if s.last {
		next.Queue.Pos, next.Queue.Done = s.c.hi.String(), s.c.last
		if err := r.catalog.SaveState(ctx, s.tx, j.row.ID, next); err != nil {
			return err
		}
	}
	if err := s.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit changes to %s: %w", j.spec.Dest, err)
	}
	r.debug("applied piece", "inserted", counts.Inserted, "updated", counts.Updated, "deleted", counts.Deleted,
		"apply_time", applied.Sub(start), "commit_time", time.Since(applied))
	j.state = next
	st := s.batch.Stats()
	ds.Add(counts)
	if s.last {
		ds.entries += s.c.entries
	}
	ds.keys += st.Changes
	ds.bytes += st.Bytes
	ds.chunks++
	if err := runHook(ctx, r.hooks.afterCommit, phase); err != nil {
		return err
	}
	return nil
}

// saveState stores the job's state in a transaction of its own.
func (r *Replicator) saveState(ctx context.Context, j *job) error {
	conn, err := replication.AcquireLive(ctx, r.dest)
	if err != nil {
		return err
	}
	defer conn.Release()
	return durable.InTx(ctx, conn, func(tx pgx.Tx) error { return r.catalog.SaveState(ctx, tx, j.row.ID, j.state) })
}

// inBatch runs fn in a new transaction of a destination session with a
// batch staged for spec, and commits when fn succeeds (rolls back when it
// fails). It returns the session's backend pid, for the crash hooks.
func (r *Replicator) inBatch(ctx context.Context, spec *keyapply.TableSpec, fn func(b *keyapply.Batch) error) (uint32, error) {
	conn, err := replication.AcquireLive(ctx, r.dest)
	if err != nil {
		return 0, fmt.Errorf("connect to destination: %w", err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	return pid, durable.InTx(ctx, conn, func(tx pgx.Tx) error {
		b, err := keyapply.StageBatch(ctx, tx, spec, r.variant)
		if err != nil {
			return err
		}
		return fn(b)
	})
}
