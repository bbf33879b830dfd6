// Package dml replays a source table's inserts, updates and deletes on a
// destination table, as mimeo's dml method does: a trigger on the source
// queues the keys of changed rows, and a refresh, run from the destination
// side, fetches the current rows of those keys and applies them set-wise.
// One source table can feed up to [MaxDestinations] destinations, each with
// its own queue and trigger, refreshed and destroyed independently.
// Config.KeepDeleted (what package logdel sets) keeps deleted rows instead:
// mimeo's LogDeletes method, on the same machinery.
//
// # Use
//
//	r, err := dml.New(sourcePool, destPool, replication.T("public", "orders"), &dml.Config{})
//	err = r.Setup(ctx)                   // queue and trigger on the source, table and rows on the destination
//	res, err := r.Refresh(ctx)           // apply what was queued since
//	res, err = r.Repull(ctx)             // reload every row, keeping the queue consistent
//	res, err = r.RepairRanges(ctx, diff) // re-pull the key ranges a checksum found different
//	err = r.Destroy(ctx, nil)            // remove trigger, function, queue, job and table
//
// [Replicator] implements replication.Replicator. Config embeds
// replication.Options (column filter, row condition, destination name,
// index replication, pull at setup, batch limit, lock wait, job log,
// logger, catalog schema) and adds the key, the queue schema and how a
// refresh fetches.
//
// # The three parts
//
// The files say which part they belong to: trigger_*.go is the trigger
// capture (the queue and its triggers, switching and draining its tables,
// its statistics), logical_*.go the logical capture (publication, slot,
// reading and folding the pgoutput stream), pipeline*.go the fetch,
// split and apply that both captures feed. setup.go, refresh.go,
// repull.go, repair.go, destroy.go and open.go are the job's operations,
// replicator.go the Replicator and the job record it keeps in the
// catalog, and prerequisite.go what a job needs of the source.
//
// Capture (the trigger queue): in a schema of the source that the replication role
// owns (Config.QueueSchema, default "mimeo_queue"), each destination has
// two queue tables and trigger functions, SECURITY DEFINER so that every
// writer of the table can queue without any right on the queue schema.
// Each function is one INSERT into the queue table being filled, which its
// body names. Triggers fire after each insert, delete, and update of a
// replicated column, and append the key (the primary key, else the first
// unique index on NOT NULL columns, else Config.Key; for an update that
// changes the key, the old key too, by a trigger whose WHEN clause tests
// that). A registry table in the same schema lists the queues and which
// table each fills; it is made by numbered migrations.
//
// The triggers are installed before the snapshot of the initial copy is
// taken, so a change made during setup is both copied and queued, never
// lost; replaying a key is idempotent.
//
// A refresh switches tables by replacing the functions with ones that fill
// the other table (and recording that, in the same transaction), then
// "closes" the one it left: it waits until every transaction that held a
// write lock on the source table at that moment has ended. A transaction
// that takes its lock later runs the new functions, since taking a lock
// makes a session catch up with catalog changes; so once those have ended,
// no entry can reach the closed table any more. The closed table is then
// drained and, once every entry is applied and committed on the
// destination, truncated. Queue tables are only ever appended to and
// truncated: they hold no dead rows, their size follows the backlog, and
// autovacuum never needs to visit them. The other table fills meanwhile; a
// change made while a refresh runs waits for the next one. The price of
// this cheap trigger is a dead catalog row per switch (pg_proc), which
// autovacuum reclaims as it does for any DDL.
//
// Fetch: entries of the closed table are claimed by position (ctid ranges
// read with a TID range scan). For a claim, one source statement streams,
// per distinct key in key order, the key's current row when it exists and
// matches the condition (looked up through the key's index when the claim
// is small next to the table, else by a join), with COPY, binary where the
// types allow. The stream is cut, without decoding any value, into pieces
// of Config.ChunkSize keys.
//
// Apply: each piece is loaded with COPY into a
// temporary table of a destination transaction, which deletes the keys
// without a row and merges the rows (MERGE: a row whose image differs is
// updated, a missing one inserted; when the destination has a unique index
// that does not contain the key, so that updating rows one by one could
// collide, it deletes and inserts them instead). Two destination sessions
// take turns, so the next piece streams in while the previous one is
// applied. The piece that ends a claim also saves the queue position in
// the catalog (replication.Catalog.SaveState) in its transaction. With
// Config.FetchFirst (mimeo's insert_on_fetch = false) a claim is fetched
// whole before it is applied, which ends the source statement sooner.
//
// Logical capture feeds the same pieces (see below); package dml/export's
// importer applies its files with the same merge. The staging and apply
// code (the table's key and columns, the batch, the merge, and the two
// variants: plain replay and LogDeletes) is the module's internal
// key-apply package, shared by dml, logdel and dml/export.
//
// # Logical capture
//
// With Config.Capture = CaptureLogical no trigger or queue is made; the
// changes are read from the write-ahead log with the built-in pgoutput
// plugin (package pglogrepl). The source role needs the REPLICATION
// attribute, must own the table and needs CREATE on the source database
// (to publish the table; setup checks both first and names the missing
// grant), and the server wal_level = logical and a free replication slot
// and WAL sender. No superuser is needed. Options, destination and results
// are those of the trigger capture.
//
// Setup creates a publication of the table and a logical replication slot,
// both named Config.Logical.Slot (default "pgmimeo_" and 16 random hex
// digits; names are checked against a strict pattern before they reach
// pglogrepl, which does not quote them). When the column filter leaves
// columns out, the publication lists the replicated ones (PostgreSQL's
// column list), unless the table has REPLICA IDENTITY FULL, which allows no
// list; the row condition is never
// made a row filter (a filter may only name replica identity columns, a
// condition may join other tables) and is applied to the fetched rows
// instead. The replica identity must be the key (the primary key, or
// REPLICA IDENTITY USING INDEX on the key's unique index, or FULL); logdel
// needs FULL, so that a deleted row's last values arrive with its
// deletion, whose time is the deleting transaction's commit time. Set the
// identity before setting up a filtered job: switching the table to
// REPLICA IDENTITY FULL while a job with a column list exists makes
// PostgreSQL refuse every update of the table ("column list used by the
// publication does not cover the replica identity"). A job of every column
// has no list and is not affected. The
// initial copy reads the snapshot the slot exports when it is made, so no
// change falls between the copy and the stream. A setup that fails drops
// the slot and the publication again; Destroy drops both before it
// removes the job.
//
// A refresh reads the slot through logical decoding's SQL interface
// (pg_logical_slot_peek_binary_changes, pgoutput messages decoded with
// pglogrepl) on an ordinary source session, from the position saved with
// the job up to the WAL flushed when the read starts
// (pg_current_wal_flush_lsn), so it never waits for more; or until
// Options.BatchLimit changes (a limit may end the read inside a
// transaction; the position then records how many of its changes were
// applied, and the next refresh reads that transaction again and skips
// them). The server hands over the whole read at once and keeps it in
// memory up to work_mem, in a temporary file beyond: set a batch limit for
// large backlogs. The changes are folded by key: each changed key ends in
// the state its last change gave it, which the stream itself carries (an
// insert's or update's new row; a delete's key, and under REPLICA
// IDENTITY FULL its last values), so those rows are applied from the
// stream's values without reading the source again. The rows of the keys
// whose last change the stream did not carry whole (an update that left a
// TOASTed value alone) are fetched as they are now, after the stream's,
// through a temporary table of keys, in the same query as the trigger
// capture's; with a row condition, which only the source can evaluate,
// every changed row is fetched. Values travel in their text form: the
// session that reads the slot and every session that prints or reads those
// values use the same fixed settings for the transaction (DateStyle ISO,
// IntervalStyle postgres, extra_float_digits 3, bytea_output hex,
// lc_monetary C, TimeZone UTC), whatever a role or database sets. Rows are
// applied set-wise as the trigger capture applies a claim: in key order,
// in destination transactions of Config.ChunkSize keys, the next loaded
// while one is applied, or in one with Config.FetchFirst. The keys folded
// so far are applied before a TRUNCATE read (which empties the
// destination, or for logdel marks its live rows deleted at the
// truncation's commit time) and whenever they and their rows pass 64 MiB,
// which bounds a refresh's memory; with FetchFirst, one transaction, the
// TRUNCATE comes first and every row is fetched instead. The transaction
// of the last piece also saves the new position; an earlier piece
// committed without it is applied again after a crash, which converges to
// the same rows. Only after that commit is the position confirmed to the
// slot (pg_replication_slot_advance). A row from the stream is the row as
// of the new position; a fetched row may be newer, and the refresh that
// reads its later changes applies them again.
// Changes of other tables are not published; the position still moves to
// the WAL end read, so an idle table does not hold WAL back. Only setup
// opens a replication connection (to create the slot and export its
// snapshot).
//
// A refresh decodes every WAL record the source wrote since the slot's
// restart point, those of other tables too, and confirming the new
// position decodes them again, so its time grows with all the source's
// writes since the last refresh. [Replicator.Spool] moves that work out
// of the refresh: run beside whatever refreshes the job, it reads the
// slot every Config.Logical.PollInterval into a spool table on the
// destination (logical_spool_<job id> in the catalog's schema), each read
// committed with the position it reached and its time (the job's state,
// without marking a run) before that position is confirmed to the slot.
// While Spool runs, a refresh applies the spool alone, without decoding
// anything: the destination is as fresh as the last spool read, and the
// refresh reports that as its lag. Once Spool has returned (a running
// Spool holds an advisory lock of its own, which its end or the end of its
// session lets go, and which keeps a second Spool of the job, in any
// process, from running: it returns ErrLocked), a refresh reads the
// spool and then the slot from the spool's position. Either way it deletes
// the spool rows it read in the transaction of its last piece, with the
// new position. A spool lock (an advisory lock of its own on the
// destination table) keeps one reader of the slot at a time: a refresh, a
// repull and Destroy wait for a spool read in flight; a spool read that
// finds a refresh running leaves its turn. Run Spool from your service, or
// set Config.Logical.Spool and the scheduler (so "pgmimeo run", with
// "spool: true" in the job file) keeps one running on one of its workers.
//
// Each refresh checks the WAL the slot retains (Replicator.SlotHealth):
// past Config.Logical.WarnRetainedBytes it is a warning of the refresh
// (a WARNING job in the job log), past CriticalRetainedBytes also a
// CRITICAL "Check Slot" job. A slot no job reads keeps WAL forever:
// destroy jobs you no longer refresh. Replicator.Run refreshes in a loop
// for near-real-time use.
//
// Column changes are as for the trigger capture: the relation messages of
// the stream are checked, and a replicated column the source lost is an
// error (a column in a publication's column list cannot be dropped
// without CASCADE); new source columns are not replicated. Follow the
// same steps to change the columns.
//
// # Range repair
//
// [Replicator.RepairRanges] re-pulls the key ranges in which a checksum
// validation (check.ChecksumJob, which checks a DML job by the key it
// replicates by) found the destination different, as the scheduler's
// Repair does for every kind: under the refresh lock, the source rows of
// the ranges are read in one snapshot and staged with COPY in one
// destination transaction, where the variant replaces the destination's
// rows of the ranges by them (LogDeletes keeps its rows
// marked deleted unless their key is live again). The queue, or the slot,
// is not touched: changes queued before or after the repair's snapshot
// are applied by the next refresh, which converges because replay by key
// is idempotent.
//
// # Crash safety
//
// The queue position is saved in the destination transaction that applies
// the entries it covers, and a queue table is truncated (or the slot's
// position confirmed) only after the destination committed. Every
// transaction dml commits runs SET LOCAL synchronous_commit = on, whatever
// the server, database or role sets: an acknowledged commit that a crash
// could still lose would let the source drop changes the destination never
// kept. (Snapshot, table and incremental jobs, whose whole state lives on
// the destination, may commit asynchronously.) A refresh cut short at any point (a terminated
// connection, a crash) leaves the last committed position; the next
// refresh closes the same table again and goes on from there. A claim
// interrupted after some of its pieces committed is applied again whole,
// which is harmless since every piece replaces rows by key with their
// current state.
//
// # Privileges
//
// No superuser is needed. What a job needs of the source is its
// Config.Prerequisite: for the trigger capture, SELECT and TRIGGER on the
// table and a queue schema the role owns (or may create); for the logical
// one, see above. Setup checks exactly that list, through
// check.Preflight, before it creates anything, so Preflight (given Method
// or logdel.Method) calls a capture possible exactly when Setup accepts
// the role; a missing grant is a *replication.TableError wrapping
// replication.ErrPrivilege whose Fix is the statement that provides it.
// Dropping the trigger needs no ownership of the table: Destroy drops the
// trigger function with CASCADE.
//
// # Column changes
//
// The replicated columns are fixed when the job is set up. A column added
// to the source is not replicated, and updates of it alone queue nothing;
// a destination may have columns the source lacks. A replicated column
// cannot be dropped from the source while the job exists (the trigger
// depends on it; dropped with CASCADE, the refresh reports it missing). To
// change the replicated columns, in this order: Destroy the job with
// DestroyOptions.KeepTable; add the column to the destination (or, to drop
// one, drop it from the source, then if wanted from the destination, which
// may keep it as long as it is not NOT NULL); add it to the source; Setup
// again with Options.AdoptDest, whose first refresh pulls every row. The
// queue is made anew by Setup.
//
// # Performance
//
// The destination is created with fillfactor 90 (Config.Fillfactor) so that
// replayed updates are mostly HOT, and its indexes are built after the
// initial copy. See BenchmarkDMLRefresh, BenchmarkCaptureApply (trigger
// and logical capture) and BenchmarkSourceWriteOverhead.
package dml
