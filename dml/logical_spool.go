package dml

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/replication"
)

// A refresh that reads the slot decodes every WAL record the source wrote
// since the slot's restart point, also those of tables it does not
// replicate, and the slot's confirmation decodes them again. Spool moves
// that work out of the refresh: between refreshes it reads the slot's
// messages for the job into a spool table on the destination, each
// read's messages committed in one destination transaction with the
// position they reach and the read's time (jobState.Spool), and only then
// confirms that position to the slot. While a Spool runs (it holds the
// spooler lock, in shared mode, for as long as it runs), a refresh applies
// the spool alone and does not touch the slot: the destination is then as
// fresh as the last read, which the refresh reports as its lag. (Reading
// the slot after the spool would not be cheap even then: the slot's
// restart point follows its confirmed position only at the source's
// records of running transactions, every 15 s or checkpoint, so a read
// decodes again up to that much WAL.) Once Spool has stopped, a refresh
// reads the spool, then the slot from the spool's position, as one read,
// and the job is back to reading its slot. Either way the refresh deletes
// the spool rows it read in the transaction of its last piece, with the
// new position. A spool row is thus deleted only with the destination
// rows it describes, and a slot position is confirmed only once what
// precedes it is committed on the destination, as spooled messages or as
// applied rows: a crash anywhere leaves a spool and a slot from which the
// next read converges.
//
// A spool row holds the messages of whole transactions or of parts of
// one, each with its length, and starts with the relation messages read
// before it, so that a read that starts at any row knows the table's
// columns. The spool lock (an advisory lock of its own on the destination
// table) keeps one reader of the slot at a time: a refresh waits for it, a
// spool read that finds it taken leaves its turn.

// spoolMark is what a spool read leaves in the job's state.
type spoolMark struct {
	// LSN: the spool holds every transaction of the table that ended
	// before it and is not applied yet.
	LSN string `json:"lsn"`
	// At is the destination's clock just before the read took the
	// source's WAL end: once the spool is applied, the destination holds
	// every source change committed before it.
	At time.Time `json:"at"`
}

// spoolerClass is the first key of the lock a running Spool holds for as
// long as it runs ("splr"); the second is the one of the refresh lock. A
// second Spool of the job cannot take it, and a refresh that finds it
// held knows that a Spool keeps the spool up to date.
const spoolerClass = 0x73706c72

// spoolerGrace is how long a Spool waits for the spooler lock before it
// says that another Spool runs: a Spool cancelled in the middle of a
// statement loses its session, whose lock goes only once the server has
// noticed.
const spoolerGrace = 2 * time.Second

// spoolLockClass is the first key of the spool lock ("spol"); the second
// is the one of the refresh lock.
const spoolLockClass = 0x73706f6c

// spoolRowBytes is the size past which a spool row is written and the
// next begun.
const spoolRowBytes = 4 << 20

// spoolMessagesPerRead bounds the messages one spool read takes from the
// slot; the slot function stops only after a whole transaction, so a read
// may take more.
const spoolMessagesPerRead = 1_000_000

// spoolTable is the quoted name of the spool table of job id, in the
// catalog's schema.
func (r *Replicator) spoolTable(id int64) string {
	return pgx.Identifier{r.catalog.Schema(), "logical_spool_" + strconv.FormatInt(id, 10)}.Sanitize()
}

// spoolLocked runs fn holding the job's spool lock on conn, waiting for
// a spool read to end.
func (r *Replicator) spoolLocked(ctx context.Context, conn *pgxpool.Conn, fn func() error) error {
	l := r.spoolLock()
	if err := l.wait(ctx, conn); err != nil {
		return err
	}
	defer l.unlock(ctx, conn)
	return fn()
}

// Spool reads the changes of a job with logical capture from its slot
// into a spool on the destination until ctx ends: at once while a read
// leaves messages in the slot, else every Config.Logical.PollInterval.
// While it runs, refreshes apply the spool alone and do not decode the
// WAL at all, so a refresh takes about as long as the changes to the
// table take to apply, however much WAL the source writes for other
// tables; Spool pays for the decoding, spread over the time between
// refreshes. The destination is then as fresh as Spool's last read (a
// poll interval and the read's own time behind the source), and a
// refresh reports that as its lag. Once Spool has returned, refreshes
// read the slot again, after what the spool holds. A read that finds a
// refresh running leaves its turn, and a refresh waits for a read in
// flight.
//
// One Spool runs per job: while one runs, in this process or another
// (a lock on the destination tells), a second returns a
// *replication.TableError wrapping ErrLocked, so that the source does not
// decode the same WAL twice; it first waits up to two seconds, for the
// session of a Spool that has just stopped to let its lock go. Otherwise Spool returns nil when ctx ends, or
// the first error: the job does not exist or has the trigger capture
// (ErrNotManaged, ErrWrongKind), or a read failed, which leaves the spool
// and the slot as they were before it. It holds one destination session
// for as long as it runs and one source session per read, and writes one
// small destination transaction per read even when nothing changed.
func (r *Replicator) Spool(ctx context.Context) error {
	conn, err := replication.AcquireLive(ctx, r.dest)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("spool %s: connect to the destination: %w", r.Dest(), err)
	}
	defer conn.Release()
	spooler := r.spoolerLock()
	got, err := spooler.tryFor(ctx, conn, spoolerGrace)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("spool %s: %w", r.Dest(), err)
	}
	if !got {
		return &replication.TableError{Table: r.Dest(), Err: replication.ErrLocked,
			Fix: "another Spool of this job runs (in this process or another); run one per job, or retry once it has returned"}
	}
	defer spooler.unlock(ctx, conn)
	for {
		more, err := r.spoolOnce(ctx, conn)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.Logical.pollInterval()):
		}
	}
}

// spooling reports whether a Spool of the job runs (holds the spooler
// lock); conn is a destination session.
func (r *Replicator) spooling(ctx context.Context, conn *pgxpool.Conn) (bool, error) {
	if r.hooks.spooling != nil {
		return *r.hooks.spooling, nil
	}
	return r.spoolerLock().held(ctx, conn)
}

// spoolOnce reads the slot once into the spool, on destination session
// conn, unless a refresh or another read holds the spool lock; more says
// the read stopped before the end of the WAL.
func (r *Replicator) spoolOnce(ctx context.Context, conn *pgxpool.Conn) (more bool, err error) {
	l := r.spoolLock()
	got, err := l.try(ctx, conn)
	if err != nil || !got {
		return false, err
	}
	defer l.unlock(ctx, conn)
	row, err := r.catalog.Job(ctx, conn, r.Dest())
	if err != nil {
		return false, err
	}
	cfg, state, err := decodeJob(row)
	if err != nil {
		return false, err
	}
	if row.Kind != r.variant.Kind() || cfg.Capture != CaptureLogical || state.Stream == nil {
		return false, &replication.TableError{Table: r.Dest(), Err: replication.ErrWrongKind,
			Fix: "Spool reads a job with logical capture (Config.Capture = CaptureLogical); this job has none"}
	}
	from, err := state.Stream.lsn()
	if err != nil {
		return false, err
	}
	if state.Spool != nil {
		if from, err = pglogrepl.ParseLSN(state.Spool.LSN); err != nil {
			return false, fmt.Errorf("spool position %q: %w", state.Spool.LSN, err)
		}
	}
	var at time.Time
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&at); err != nil {
		return false, fmt.Errorf("spool %s: read the clock: %w", r.Dest(), err)
	}
	if err := waitSlotIdle(ctx, r.source, cfg.Slot); err != nil {
		return false, err
	}
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return false, fmt.Errorf("spool %s: connect to the source: %w", r.Dest(), err)
	}
	defer func() {
		if err != nil {
			r.dropSession(ctx, src, cfg.Slot)
		}
		src.Release()
	}()
	w := &spoolWriter{r: r, conn: conn, table: r.spoolTable(row.ID), from: from, rels: map[uint32][]byte{}}
	defer w.rollback(ctx)
	end, more, err := w.read(ctx, src.Conn().PgConn(), cfg)
	if err != nil {
		return false, err
	}
	// Saved also when nothing was kept: the time is the lag of the
	// refreshes that apply the spool alone.
	if err := w.flush(ctx); err != nil {
		return false, err
	}
	if err := w.begin(ctx); err != nil {
		return false, err
	}
	state.Spool = &spoolMark{LSN: end.String(), At: at}
	if err := r.catalog.SaveProgress(ctx, w.tx, row.ID, state); err != nil {
		return false, err
	}
	p := phase{SourcePID: src.Conn().PgConn().PID(), DestPID: conn.Conn().PgConn().PID()}
	if err := runHook(ctx, r.hooks.beforeSpoolCommit, p); err != nil {
		return false, err
	}
	if err := w.tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("spool %s: commit: %w", r.Dest(), err)
	}
	w.tx = nil
	if err := runHook(ctx, r.hooks.afterSpoolCommit, p); err != nil {
		return false, err
	}
	// Confirmed only now: what precedes end is in the spool, applied, or
	// of no transaction of the table.
	if end > from {
		if err := confirmSlot(ctx, src.Conn().PgConn(), cfg.Slot, end); err != nil {
			return false, err
		}
	}
	r.debug("spooled", "bytes", w.bytes, "rows", w.rows, "next", end.String(), "more", more)
	return more, nil
}

// spoolWriter writes the messages of one read of the slot into the spool,
// in one destination transaction, begun at the first message kept.
type spoolWriter struct {
	r     *Replicator
	conn  *pgxpool.Conn
	table string
	// from: transactions whose commit record is before it are spooled or
	// applied already, and left out.
	from pglogrepl.LSN
	// rels are the relation messages read, by relation, which start every
	// spool row.
	rels map[uint32][]byte
	tx   pgx.Tx
	seq  int64
	buf  []byte
	// keep: the current transaction is spooled; kept: some message was.
	keep, kept  bool
	bytes, rows int64
}

// read takes the slot's messages up to the WAL flushed when it starts
// (end), or up to spoolMessagesPerRead of them, and spools those of
// transactions not spooled yet. It returns the position that the spool
// and the slot then reach: end when nothing was left out, else the end of
// the last transaction read (more).
func (w *spoolWriter) read(ctx context.Context, conn *pgconn.PgConn, cfg jobConfig) (pos pglogrepl.LSN, more bool, err error) {
	end, err := walFlushEnd(ctx, conn)
	if err != nil {
		return 0, false, err
	}
	endTx, err := copypipe.TextTx(ctx, conn)
	if err != nil {
		return 0, false, fmt.Errorf("spool slot %s: %w", cfg.Slot, err)
	}
	defer func() { _ = endTx(false) }()
	limit := strconv.AppendInt(nil, spoolMessagesPerRead, 10)
	rr := conn.ExecParams(ctx, peekSQL, [][]byte{[]byte(cfg.Slot), []byte(end.String()), limit, []byte(cfg.Publication)},
		nil, nil, []int16{pgx.BinaryFormatCode})
	var n int64
	var committed pglogrepl.LSN
	for rr.NextRow() {
		n++
		msg := rr.Values()[0]
		if len(msg) > 0 && msg[0] == 'C' {
			if committed, err = decodeCommit(msg); err != nil {
				break
			}
		}
		if err = w.add(ctx, msg); err != nil {
			break
		}
	}
	if _, cerr := rr.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("spool slot %s: %w", cfg.Slot, cerr)
	}
	if err != nil {
		return 0, false, err
	}
	if n >= spoolMessagesPerRead && committed != 0 {
		return max(committed, w.from), true, nil
	}
	return max(end, w.from), false, nil
}

// add spools one message when its transaction is kept.
func (w *spoolWriter) add(ctx context.Context, msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	switch msg[0] {
	case 'B':
		final, _, err := decodeBegin(msg)
		if err != nil {
			return err
		}
		w.keep = final >= w.from
	case 'R':
		if len(msg) < 5 {
			return fmt.Errorf("decode slot: relation message of %d bytes", len(msg))
		}
		w.rels[binary.BigEndian.Uint32(msg[1:5])] = append([]byte(nil), msg...)
	}
	if !w.keep {
		return nil
	}
	if len(w.buf) == 0 {
		for _, rel := range w.rels {
			w.buf = appendSpooled(w.buf, rel)
		}
	}
	w.buf = appendSpooled(w.buf, msg)
	w.kept = true
	if limit := cmp.Or(w.r.hooks.spoolRowBytes, spoolRowBytes); len(w.buf) >= limit {
		return w.flush(ctx)
	}
	return nil
}

// appendSpooled appends msg to a spool row, after its length.
func appendSpooled(buf, msg []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(msg)))
	return append(buf, msg...)
}

// flush writes the spool row being built, if any, beginning the
// transaction at the first.
func (w *spoolWriter) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	w.seq++
	if _, err := w.tx.Exec(ctx, `INSERT INTO `+w.table+` (seq, data) VALUES ($1, $2)`, w.seq, w.buf); err != nil {
		return fmt.Errorf("spool %s: %w", w.r.Dest(), err)
	}
	w.bytes += int64(len(w.buf))
	w.rows++
	w.buf = w.buf[:0]
	return nil
}

// begin begins the read's destination transaction, with a durable commit,
// unless it is begun, making the spool table when there is none.
func (w *spoolWriter) begin(ctx context.Context) error {
	if w.tx == nil {
		tx, err := durable.Begin(ctx, w.conn)
		if err != nil {
			return fmt.Errorf("spool %s: begin: %w", w.r.Dest(), err)
		}
		w.tx = tx
		var missing bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NULL`, w.table).Scan(&missing); err != nil {
			return fmt.Errorf("spool %s: %w", w.r.Dest(), err)
		}
		if missing {
			// The spool's values are written once and read once: stored
			// without compression, which would cost more than it saves.
			for _, ddl := range []string{`CREATE TABLE ` + w.table + ` (seq bigint PRIMARY KEY, data bytea NOT NULL)`,
				`ALTER TABLE ` + w.table + ` ALTER COLUMN data SET STORAGE EXTERNAL`} {
				if _, err := tx.Exec(ctx, ddl); err != nil {
					return fmt.Errorf("spool %s: make the spool table: %w", w.r.Dest(), err)
				}
			}
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM `+w.table).Scan(&w.seq); err != nil {
			return fmt.Errorf("spool %s: %w", w.r.Dest(), err)
		}
	}
	return nil
}

// rollback rolls back a transaction not committed.
func (w *spoolWriter) rollback(ctx context.Context) {
	if w.tx != nil {
		_ = w.tx.Rollback(context.WithoutCancel(ctx))
	}
}

// spoolRead is what a refresh read from the spool.
type spoolRead struct {
	table string
	mark  *spoolMark
	// lsn is the spool's position (mark.LSN): it holds every transaction
	// not applied that ended before it.
	lsn pglogrepl.LSN
	// only: a reader keeps the spool up to date, so the refresh reads the
	// spool alone, not the slot; the destination is then behind by lag,
	// the age of the spool read by the destination's clock.
	only bool
	lag  time.Duration
	// upTo: the spool rows up to it are applied once the refresh's last
	// piece commits; drained: that is all of them.
	upTo    int64
	drained bool
}

// openSpool returns what a refresh of j reads from its spool: nil when j
// has none. conn is a destination session.
func (r *Replicator) openSpool(ctx context.Context, conn *pgxpool.Conn, j *job) (*spoolRead, error) {
	m := j.state.Spool
	if m == nil {
		return nil, nil
	}
	sp := &spoolRead{table: r.spoolTable(j.row.ID), mark: m}
	var err error
	if sp.lsn, err = pglogrepl.ParseLSN(m.LSN); err != nil {
		return nil, fmt.Errorf("spool position %q: %w", m.LSN, err)
	}
	if r.throughSlot {
		return sp, nil
	}
	if sp.only, err = r.spooling(ctx, conn); err != nil || !sp.only {
		return sp, err
	}
	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return nil, fmt.Errorf("read the clock: %w", err)
	}
	sp.lag = now.Sub(m.At)
	return sp, nil
}

// readSpool folds the spool's messages into f in order, until f's batch
// limit is reached. The spool row where the transaction being read when
// the limit is reached began is kept, with every row after it; the next
// read skips what that row holds before the transaction's beginning
// (except relation messages).
func readSpool(ctx context.Context, conn *pgconn.PgConn, f *folder, sp *spoolRead) error {
	rr := conn.ExecParams(ctx, `SELECT seq, data FROM `+sp.table+` ORDER BY seq`, nil, nil, nil,
		[]int16{pgx.BinaryFormatCode, pgx.BinaryFormatCode})
	var seq, began int64
	full := false
	var err error
	for !full && rr.NextRow() {
		v := rr.Values()
		if len(v[0]) != 8 {
			err = fmt.Errorf("read spool %s: bad sequence number", sp.table)
			break
		}
		seq = int64(binary.BigEndian.Uint64(v[0]))
		for data := v[1]; len(data) > 0 && !full; {
			if len(data) < 4 || uint64(len(data)-4) < uint64(binary.BigEndian.Uint32(data)) {
				err = fmt.Errorf("read spool %s: row %d is cut short", sp.table, seq)
				break
			}
			n := int(binary.BigEndian.Uint32(data))
			msg := data[4 : 4+n]
			data = data[4+n:]
			switch {
			case len(msg) > 0 && msg[0] == 'B':
				began = seq
			case began == 0 && (len(msg) == 0 || msg[0] != 'R'):
				// the end of a transaction applied already, whose
				// beginning was in a row deleted
				continue
			}
			if full, err = f.add(msg); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if _, cerr := rr.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("read spool %s: %w", sp.table, cerr)
	}
	if err != nil {
		return err
	}
	if full {
		sp.upTo = began - 1
		return nil
	}
	sp.upTo, sp.drained = seq, true
	return nil
}

// readSpoolAndSlot folds into f what the spool holds, when sp is not nil,
// then, unless that reached the batch limit, what the slot holds after the
// spool's position. conn is the destination session that holds the spool
// lock, src the source session.
func (r *Replicator) readSpoolAndSlot(ctx context.Context, conn, src *pgxpool.Conn, f *folder, j *job, sp *spoolRead) error {
	if sp != nil {
		if err := readSpool(ctx, conn.Conn().PgConn(), f, sp); err != nil {
			return err
		}
		switch {
		case f.full:
			f.cs.next, f.cs.more = f.position(), true
			return nil
		case sp.only:
			// every transaction before the spool's position is read
			f.cs.next = streamState{LSN: sp.mark.LSN}
			return nil
		}
		// Every transaction before the spool's position was read from the
		// spool, also the one a batch limit cut (the spool holds it since
		// its position is past it), though the slot may still hold them
		// when a crash came before its confirmation.
		f.from, f.partial = max(f.from, sp.lsn), 0
	}
	return readSlot(ctx, src.Conn().PgConn(), f, j.cfg.Publication)
}

// saveStream saves the position next in tx, the transaction of a read's
// last piece, with what it read from the spool: the rows read are deleted,
// and the spool position is kept unless the read drained the spool.
func (r *Replicator) saveStream(ctx context.Context, tx pgx.Tx, j *job, next *streamState, sp *spoolRead) error {
	st := jobState{Stream: next, NeedsPull: j.state.NeedsPull}
	if sp != nil {
		if sp.upTo > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM `+sp.table+` WHERE seq <= $1`, sp.upTo); err != nil {
				return fmt.Errorf("delete the spool rows applied: %w", err)
			}
		}
		// Read alone, the spool stays the job's; read with the slot past
		// its position, the spool has served unless rows are left.
		if sp.only || !sp.drained {
			st.Spool = sp.mark
		}
	}
	return r.catalog.SaveState(ctx, tx, j.row.ID, st)
}

// dropSpool drops the spool table of job id, if any, in tx.
func (r *Replicator) dropSpool(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+r.spoolTable(id)); err != nil {
		return fmt.Errorf("drop the spool of %s: %w", r.Dest(), err)
	}
	return nil
}
