package dml

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// staged is a claim whose keys and rows are loaded into a destination
// transaction, ready to apply.
type staged struct {
	c     claim
	conn  *pgxpool.Conn
	tx    pgx.Tx
	batch *Batch
	// empty: the closed table had no entry left; only the state moves.
	empty bool
	err   error
}

// drainStats is what draining moved.
type drainStats struct {
	Counts
	entries, keys, bytes int64
	chunks               int
}

// drain applies the entries of closed queue table i after the job's saved
// position, at most *budget of them when *budget > 0, chunk by chunk. Each
// chunk is applied and the position saved in one destination transaction.
// Two destination sessions take turns, so that the next chunk is fetched
// into one while the other applies the previous chunk. With FetchFirst the
// whole batch is one chunk. On return the job's state says where draining
// stands (Done when the table is drained).
func (r *Replicator) drain(ctx context.Context, j *job, src *pgxpool.Conn, i int, budget *int64, ds *drainStats) error {
	pos, err := parseTID(j.state.Queue.Pos)
	if err != nil {
		return err
	}
	chunk := int64(r.cfg.chunkSize())
	sessions := 2
	if r.cfg.FetchFirst || j.cfg.FetchFirst {
		chunk, sessions = 0, 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	free := make(chan *pgxpool.Conn, sessions)
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for k := 0; k < sessions; k++ {
		c, err := acquire(ctx, r.dest)
		if err != nil {
			return fmt.Errorf("connect to destination: %w", err)
		}
		held = append(held, c)
		free <- c
	}

	out := make(chan staged, 1)
	remaining, limited := *budget, *budget > 0
	go func() {
		defer close(out)
		for {
			max := chunk
			if limited {
				if remaining <= 0 {
					return
				}
				if max == 0 || max > remaining {
					max = remaining
				}
			}
			c, err := j.queue.nextClaim(ctx, src, i, pos, max)
			var conn *pgxpool.Conn
			select {
			case conn = <-free:
			case <-ctx.Done():
				return
			}
			if errors.Is(err, errNoEntries) {
				out <- staged{c: claim{table: i, lo: pos, hi: pos, last: true}, conn: conn, empty: true}
				return
			}
			if err != nil {
				out <- staged{conn: conn, err: err}
				return
			}
			s := r.stage(ctx, j, src, conn, c)
			out <- s
			if s.err != nil || c.last {
				return
			}
			pos, remaining = c.hi, remaining-c.entries
		}
	}()

	var firstErr error
	for s := range out {
		if firstErr != nil || s.err != nil {
			if s.tx != nil {
				_ = s.tx.Rollback(context.WithoutCancel(ctx))
			}
			if firstErr == nil {
				firstErr = s.err
				cancel()
			}
			continue
		}
		if err := r.applyStaged(ctx, j, src, s, ds); err != nil {
			if s.tx != nil {
				_ = s.tx.Rollback(context.WithoutCancel(ctx))
			}
			firstErr = err
			cancel()
			continue
		}
		*budget -= s.c.entries
		free <- s.conn
	}
	return firstErr
}

// stage loads claim c into a new transaction on conn: the distinct keys,
// their current rows and, for variants that keep them, deleted rows.
func (r *Replicator) stage(ctx context.Context, j *job, src *pgxpool.Conn, conn *pgxpool.Conn, c claim) staged {
	s := staged{c: c, conn: conn}
	tx, err := conn.Begin(ctx)
	if err != nil {
		s.err = fmt.Errorf("begin destination transaction: %w", err)
		return s
	}
	s.tx = tx
	b, err := StageBatch(ctx, tx, j.spec, r.variant)
	if err != nil {
		s.err = err
		return s
	}
	s.batch = b
	pg := src.Conn().PgConn()
	if _, err := b.CopyKeys(ctx, pg, keysQuery(j.queue, j.spec, c)); err != nil {
		s.err = err
		return s
	}
	if _, err := b.CopyRows(ctx, pg, rowsQuery(j.queue, j.spec, c)); err != nil {
		s.err = err
		return s
	}
	if r.variant.KeepsDeleted() {
		if _, err := b.CopyDeleted(ctx, pg, deletedQuery(j.queue, j.spec, c)); err != nil {
			s.err = err
			return s
		}
	}
	return s
}

// applyStaged applies a staged chunk and saves the queue position with it.
func (r *Replicator) applyStaged(ctx context.Context, j *job, src *pgxpool.Conn, s staged, ds *drainStats) error {
	phase := Phase{SourcePID: src.Conn().PgConn().PID(), DestPID: s.conn.Conn().PgConn().PID()}
	if s.empty {
		j.state.Queue.Done = true
		return inTx(ctx, s.conn, func(tx pgx.Tx) error { return r.catalog.SaveState(ctx, tx, j.row.ID, j.state) })
	}
	if h := r.hooks.afterFetch; h != nil {
		if err := h(ctx, phase); err != nil {
			return err
		}
	}
	counts, err := s.batch.Apply(ctx)
	if err != nil {
		return err
	}
	if h := r.hooks.midApply; h != nil {
		if err := h(ctx, phase); err != nil {
			return err
		}
	}
	next := j.state
	next.Queue.Pos, next.Queue.Done = s.c.hi.String(), s.c.last
	if err := r.catalog.SaveState(ctx, s.tx, j.row.ID, next); err != nil {
		return err
	}
	if err := s.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit changes to %s: %w", j.spec.Dest, err)
	}
	j.state = next
	st := s.batch.Stats()
	ds.Add(counts)
	ds.entries += s.c.entries
	ds.keys += st.Keys
	ds.bytes += st.Bytes
	ds.chunks++
	if h := r.hooks.afterCommit; h != nil {
		if err := h(ctx, phase); err != nil {
			return err
		}
	}
	return nil
}

// saveState stores the job's state in a transaction of its own.
func (r *Replicator) saveState(ctx context.Context, j *job) error {
	conn, err := acquire(ctx, r.dest)
	if err != nil {
		return err
	}
	defer conn.Release()
	return inTx(ctx, conn, func(tx pgx.Tx) error { return r.catalog.SaveState(ctx, tx, j.row.ID, j.state) })
}
