package dml

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// snapshotName matches the names PostgreSQL gives exported snapshots.
var snapshotName = regexp.MustCompile(`^[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?$`)

// pullInSnapshot runs pull on source connection conn, in a transaction
// that uses the exported snapshot when one is given.
func pullInSnapshot(ctx context.Context, conn *pgxpool.Conn, snapshot string, pull func() (copypipe.Stats, error)) (copypipe.Stats, error) {
	if snapshot == "" {
		return pull()
	}
	if !snapshotName.MatchString(snapshot) {
		return copypipe.Stats{}, fmt.Errorf("unexpected snapshot name %q", snapshot)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return copypipe.Stats{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
		return copypipe.Stats{}, fmt.Errorf("use the slot's snapshot: %w", err)
	}
	st, err := pull()
	if err != nil {
		return st, err
	}
	return st, tx.Commit(ctx)
}

// setupLogical sets up a job with logical capture: the publication, then
// the slot, whose exported snapshot the initial copy reads, then the
// destination and the job in one destination transaction. On failure the
// slot and the publication are dropped again.
func (r *Replicator) setupLogical(ctx context.Context, run *replication.JobRun, spec *keyapply.TableSpec, ko keyOrigin, adopt bool) (err error) {
	id, err := r.sourceIdentity(ctx, spec)
	if err != nil {
		return err
	}
	name := r.cfg.Logical.Slot
	if name == "" {
		if name, err = newSlotName(); err != nil {
			return err
		}
	}
	var taken bool
	if err := r.source.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1)`, name).Scan(&taken); err != nil {
		return fmt.Errorf("setup %s: %w", r.Dest(), err)
	}
	if taken {
		return &replication.TableError{Table: r.table, Err: replication.ErrExists,
			Fix: fmt.Sprintf("a replication slot or publication named %q exists on the source: choose another Config.Logical.Slot", name)}
	}
	// The fetch reads the changed keys' rows through a temporary table:
	// the condition must work in that query too.
	for _, lookups := range []bool{true, false} {
		probe := *spec
		probe.Sizes = keyapply.TableSizes{KeyIndexed: lookups, SourceRows: -1}
		e := entries{from: `(SELECT ` + sqltext.IdentList("", spec.ColumnNames()) + `, NULL::timestamptz AS ` + replication.QuoteIdent(keyapply.DeletedAtColumn) +
			` FROM ` + spec.Source.Sanitize() + ` LIMIT 0) mimeo_e WHERE true`}
		if err := sqltext.Probe(ctx, r.source, `SELECT * FROM (`+changesFrom(e, &probe, r.variant.KeepsDeleted())+`) mimeo_probe LIMIT 0`); err != nil {
			return &replication.TableError{Table: r.table, Err: fmt.Errorf("%w: %w", replication.ErrBadCondition, err),
				Fix: "fix Options.Condition: refer to the source table by its name without schema"}
		}
	}
	run.Step(ctx, "Creating publication and replication slot on source")
	if err := createPublication(ctx, r.source, name, spec, id); err != nil {
		return err
	}
	rc, err := replicationConn(ctx, r.source)
	if err != nil {
		_ = dropPublication(context.WithoutCancel(ctx), r.source, name)
		return err
	}
	slotMade := false
	defer func() {
		_ = rc.Close(context.WithoutCancel(ctx))
		if err == nil {
			return
		}
		cctx := context.WithoutCancel(ctx)
		if slotMade {
			if derr := dropSlotWhenIdle(cctx, r.source, name); derr != nil {
				err = fmt.Errorf("%w (and dropping the slot again failed: %v)", err, derr)
			}
		}
		if derr := dropPublication(cctx, r.source, name); derr != nil {
			err = fmt.Errorf("%w (and dropping the publication again failed: %v)", err, derr)
		}
	}()
	slot, err := createSlot(ctx, rc, name)
	if err != nil {
		return fmt.Errorf("create replication slot %s: %w", name, err)
	}
	slotMade = true
	run.Step(ctx, "Creating destination table")
	jc := jobConfig{Capture: CaptureLogical, Slot: name, Publication: name, startLSN: slot.ConsistentPoint}
	return durable.InTx(ctx, r.dest, func(tx pgx.Tx) error {
		if adopt {
			return r.adoptDest(ctx, run, tx, spec, jc)
		}
		return r.makeDest(ctx, run, tx, spec, jc, ko, slot.SnapshotName)
	})
}

// waitSlotIdle waits up to ten seconds for the session of an earlier
// refresh, cut short, to release the slot.
func waitSlotIdle(ctx context.Context, db replication.DB, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var active bool
		err := db.QueryRow(ctx, `SELECT COALESCE((SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1), false)`, name).Scan(&active)
		if err != nil {
			return fmt.Errorf("read replication slot %s: %w", name, err)
		}
		if !active || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dropSlotWhenIdle drops a slot, waiting up to ten seconds for a session
// that still reads it (a refresh cut short, whose source session has not
// noticed yet) to end.
func dropSlotWhenIdle(ctx context.Context, db replication.DB, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := dropSlot(ctx, db, name)
		if err == nil || sqltext.SQLState(err) != "55006" || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refreshLogical applies the changes the slot has for the job.
// conn is the destination session that holds the refresh lock.
func (r *Replicator) refreshLogical(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, j *job, res *replication.Result) error {
	return r.spoolLocked(ctx, conn, func() error {
		r.checkSlot(ctx, run, j, res)
		if j.state.NeedsPull {
			return r.repullFromStream(ctx, conn, run, j, res)
		}
		return r.readAndApply(ctx, conn, run, j, res)
	})
}

// readAndApply reads the job's spool, if it has one, then the slot, from
// the job's position, and applies what it read (see logical_image.go and
// logical_spool.go). conn is the destination session that holds the
// refresh lock and the spool lock.
func (r *Replicator) readAndApply(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, j *job, res *replication.Result) (err error) {
	// A spool read may have moved the state since the job was opened.
	row, err := r.catalog.Job(ctx, conn, r.Dest())
	if err != nil {
		return err
	}
	if _, st, err := decodeJob(row); err != nil {
		return err
	} else if st.Stream != nil {
		j.state.Stream, j.state.Spool = st.Stream, st.Spool
	}
	sp, err := r.openSpool(ctx, conn, j)
	if err != nil {
		return err
	}
	state := *j.state.Stream
	from, err := state.lsn()
	if err != nil {
		return err
	}
	f, err := newFolder(j.spec, j.cfg.Slot, r.variant.KeepsDeleted(), state, r.batchLimit(j), r.maxImageBytes())
	if err != nil {
		return err
	}
	run.Step(ctx, "Reading and applying changes from replication slot "+j.cfg.Slot)
	if err := waitSlotIdle(ctx, r.source, j.cfg.Slot); err != nil {
		return err
	}
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return fmt.Errorf("connect to source: %w", err)
	}
	defer func() {
		if err != nil {
			r.dropSession(ctx, src, j.cfg.Slot)
		}
		src.Release()
	}()
	var ds drainStats
	chunk, sessions := r.pieces(j)
	f.chunk = chunk
	cs := f.cs
	err = r.runPieces(ctx, sessions, func(ctx context.Context, set *sessionSet, out chan<- staged) {
		f.emit = func(keys map[string]change, truncate time.Time) error {
			if !r.stageImages(ctx, j, keys, truncate, chunk, false, set, out) {
				return errStopped
			}
			return nil
		}
		if err := r.readSpoolAndSlot(ctx, conn, src, f, j, sp); err != nil {
			if !errors.Is(err, errStopped) {
				out <- staged{err: err}
			}
			return
		}
		r.stageRest(ctx, j, src, f, set, out)
	}, func(ctx context.Context, s staged) error {
		return r.applyStreamPiece(ctx, j, src, s, &cs.next, sp, &ds)
	})
	if err != nil {
		return err
	}
	r.debug("read slot", "changes", cs.changes, "keys", ds.keys, "next", cs.next.LSN)
	ds.entries = cs.changes
	if cs.changes > 0 {
		run.Done(ctx, "Applied %d changes (%d keys): %d inserted, %d updated, %d deleted",
			cs.changes, ds.keys, ds.Inserted, ds.Updated, ds.Deleted)
	} else if cs.next != state || sp != nil {
		// Nothing of the table: store the new position alone.
		err = durable.InTx(ctx, conn, func(tx pgx.Tx) error {
			return r.saveStream(ctx, tx, j, &cs.next, sp)
		})
		if err != nil {
			return err
		}
	}
	j.state.Stream = &cs.next
	if sp != nil && sp.drained && !sp.only {
		j.state.Spool = nil
	}
	if sp != nil && sp.only {
		// Up to date as of the spool read, whose position Spool confirmed.
		res.SyncLag = max(res.SyncLag, sp.lag)
	} else if next, err := cs.next.lsn(); err == nil && next > from {
		// Confirmed only now that the destination committed.
		if err := confirmSlot(ctx, src.Conn().PgConn(), j.cfg.Slot, next); err != nil {
			return err
		}
	}
	res.More = cs.more
	return r.finish(ctx, run, res, ds, r.batchLimit(j))
}

// dropSession closes the source session of a failed refresh rather than
// pool it, for it may be the cause (terminated, or cut off in the middle
// of a result). A statement that ctx cut short may still run on the
// server and hold the slot: it is cancelled, and the slot waited for (ten
// seconds at most), so that the slot is free when the refresh returns.
func (r *Replicator) dropSession(ctx context.Context, src *pgxpool.Conn, slot string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = src.Conn().PgConn().CancelRequest(ctx)
	_ = src.Conn().Close(ctx)
	_ = waitSlotIdle(ctx, r.source, slot)
}

// stageRest loads what is left when the read of f has ended: the keys
// folded since the last piece, then the rows of the keys read from the
// source (through src, in pieces of Config.ChunkSize keys). The last piece
// saves the position; when the read had changes and nothing is left, it is
// a piece of no rows.
func (r *Replicator) stageRest(ctx context.Context, j *job, src *pgxpool.Conn, f *folder, set *sessionSet, out chan<- staged) {
	cs := f.cs
	if len(cs.fetch) == 0 {
		if cs.changes > 0 {
			r.stageImages(ctx, j, cs.keys, cs.truncatedAt, f.chunk, true, set, out)
		}
		return
	}
	if f.chunk <= 0 {
		// one piece: every row from the source
		cs.dropImages()
	}
	truncate := cs.truncatedAt
	if len(cs.keys) > 0 {
		if !r.stageImages(ctx, j, cs.keys, truncate, f.chunk, false, set, out) {
			return
		}
		truncate = time.Time{}
	}
	c := claim{entries: cs.changes, last: true}
	r.streamClaim(ctx, j, src, c, streamFetch(j.spec, cs.fetch, r.variant.KeepsDeleted()), truncate, f.chunk, set, out)
}

// applyStreamPiece applies a loaded piece of a change set, after the
// TRUNCATE it carries; the last piece also saves the next stream position,
// read from next only then.
func (r *Replicator) applyStreamPiece(ctx context.Context, j *job, src *pgxpool.Conn, s staged, next *streamState, sp *spoolRead, ds *drainStats) error {
	p := phase{SourcePID: src.Conn().PgConn().PID(), DestPID: s.conn.Conn().PgConn().PID()}
	if err := runHook(ctx, r.hooks.afterFetch, p); err != nil {
		return err
	}
	var counts keyapply.Counts
	start := time.Now()
	if !s.truncate.IsZero() {
		c, err := applyTruncate(ctx, s.batch, s.truncate)
		if err != nil {
			return err
		}
		counts.Add(c)
	}
	c, err := s.batch.Apply(ctx)
	if err != nil {
		return err
	}
	counts.Add(c)
	applied := time.Now()
	if err := runHook(ctx, r.hooks.midApply, p); err != nil {
		return err
	}
	if s.last {
		if err := r.saveStream(ctx, s.tx, j, next, sp); err != nil {
			return err
		}
	}
	if err := s.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit changes to %s: %w", j.spec.Dest, err)
	}
	r.debug("applied piece", "inserted", counts.Inserted, "updated", counts.Updated, "deleted", counts.Deleted,
		"apply_time", applied.Sub(start), "commit_time", time.Since(applied))
	st := s.batch.Stats()
	ds.Add(counts)
	ds.keys += st.Changes
	ds.bytes += st.Bytes
	ds.chunks++
	if err := runHook(ctx, r.hooks.afterCommit, p); err != nil {
		return err
	}
	return nil
}

// repullFromStream is Repull for logical capture: it first applies what
// the stream holds (so that logdel keeps the deletions not yet applied),
// then pulls every row.
func (r *Replicator) repullFromStream(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun, j *job, res *replication.Result) error {
	for {
		var caught replication.Result
		if err := r.readAndApply(ctx, conn, run, j, &caught); err != nil {
			return err
		}
		if !caught.More {
			break
		}
	}
	j.state.NeedsPull = true
	return r.repullLogical(ctx, run, j, res)
}

// repullLogical replaces the destination's rows with every source row
// (keeping logdel's deleted rows), leaving the stream position: changes
// read later that the pull already holds are applied again, which does no
// harm.
func (r *Replicator) repullLogical(ctx context.Context, run *replication.JobRun, j *job, res *replication.Result) error {
	run.Step(ctx, "Pulling all rows from source")
	src, err := replication.AcquireLive(ctx, r.source)
	if err != nil {
		return fmt.Errorf("connect to source: %w", err)
	}
	defer src.Release()
	var counts keyapply.Counts
	var bytes int64
	_, err = r.inBatch(ctx, j.spec, func(b *keyapply.Batch) error {
		var err error
		if counts, err = r.variant.Reload(ctx, b, fullLoad(src.Conn().PgConn(), b.Tx(), j.spec, &bytes)); err != nil {
			return fmt.Errorf("repull %s: %w", j.spec.Dest, err)
		}
		return r.catalog.SaveState(ctx, b.Tx(), j.row.ID, jobState{Stream: j.state.Stream, Spool: j.state.Spool})
	})
	if err != nil {
		return err
	}
	j.state.NeedsPull = false
	run.Done(ctx, "Pulled %d rows", counts.Inserted)
	res.Inserted, res.Updated, res.Deleted, res.Bytes = counts.Inserted, counts.Updated, counts.Deleted, bytes
	return nil
}

// SlotHealth reports what the job's replication slot retains on the
// source. It fails for a job with the trigger capture.
func (r *Replicator) SlotHealth(ctx context.Context) (SlotHealth, error) {
	row, err := r.catalog.Job(ctx, r.dest, r.Dest())
	if err != nil {
		return SlotHealth{}, err
	}
	cfg, _, err := decodeJob(row)
	if err != nil {
		return SlotHealth{}, err
	}
	if cfg.Capture != CaptureLogical {
		return SlotHealth{}, &replication.TableError{Table: r.Dest(), Err: replication.ErrWrongKind,
			Fix: "the job captures changes with a trigger; it has no replication slot"}
	}
	return slotHealth(ctx, r.source, cfg.Slot)
}

// checkSlot reports the slot's retained WAL: past the warning threshold
// as a warning of the refresh (and a WARNING step), past the critical one
// also as a CRITICAL job "Check Slot" in the job log. A failure to read
// it is logged and otherwise ignored.
func (r *Replicator) checkSlot(ctx context.Context, run *replication.JobRun, j *job, res *replication.Result) {
	h, err := slotHealth(ctx, r.source, j.cfg.Slot)
	if err != nil {
		if r.cfg.Logger != nil {
			r.cfg.Logger.Warn("read slot health", append(replication.EventAttrs(r.variant.Kind(), r.Dest()), "error", err)...)
		}
		return
	}
	r.debug("slot health", "slot", h.Slot, "retained", h.RetainedBytes, "lag", h.LagBytes)
	if h.RetainedBytes <= r.cfg.Logical.warnBytes() {
		return
	}
	msg := fmt.Sprintf("replication slot %s retains %d bytes of WAL on the source (warning at %d, critical at %d)",
		h.Slot, h.RetainedBytes, r.cfg.Logical.warnBytes(), r.cfg.Logical.criticalBytes())
	res.Warnings = append(res.Warnings, msg)
	run.Warn(ctx, msg)
	if h.RetainedBytes > r.cfg.Logical.criticalBytes() {
		check := replication.StartJob(ctx, r.cfg.JobLog, r.cfg.Logger, r.jobName("Check Slot"))
		check.Step(ctx, "Checking retained WAL of replication slot "+h.Slot)
		_ = check.Finish(ctx, &SlotLagError{Slot: h.Slot, RetainedBytes: h.RetainedBytes, Limit: r.cfg.Logical.criticalBytes()})
	}
}

// SlotLagError says a job's slot retains more WAL than the critical
// threshold.
type SlotLagError struct {
	Slot          string
	RetainedBytes int64
	Limit         int64
}

func (e *SlotLagError) Error() string {
	return fmt.Sprintf("replication slot %s retains %d bytes of WAL, past the critical threshold of %d: refresh the job more often or destroy it",
		e.Slot, e.RetainedBytes, e.Limit)
}

// Run refreshes the job until ctx ends, for near-real-time replication:
// again at once while a batch limit leaves changes to apply, else after
// Config.Logical.PollInterval. A refresh skipped because another one
// holds the lock is waited out. It returns nil when ctx ends, or the
// first refresh error. It works for both captures.
func (r *Replicator) Run(ctx context.Context) error {
	for {
		res, err := r.Refresh(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, replication.ErrLocked) {
			return err
		}
		if err == nil && res.More {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.Logical.pollInterval()):
		}
	}
}

// destroyLogical drops the job's slot and publication on the source.
func (r *Replicator) destroyLogical(ctx context.Context, cfg jobConfig) error {
	if err := dropSlotWhenIdle(ctx, r.source, cfg.Slot); err != nil {
		return err
	}
	return dropPublication(ctx, r.source, cfg.Publication)
}
