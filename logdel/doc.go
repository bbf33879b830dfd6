// Package logdel is mimeo's LogDeletes replication: DML replay (package
// dml) that keeps deleted rows on the destination, for a data warehouse.
// It is dml with Config.KeepDeleted set: the capture, fetch, pipeline,
// state and lifecycle are dml's, and what differs is the apply variant that
// keeps deleted rows, in the key-based apply machinery dml, logdel and
// dml/export share. [New] and [Open] return a *dml.Replicator running it.
//
// # What differs from dml
//
// The destination has one more column, mimeo_source_deleted timestamptz
// ([DeletedColumn]), NULL for live rows. When a source row is deleted, the
// trigger keeps the whole row in the queue with the deletion time
// (clock_timestamp() at the delete), so the destination row stays, with
// its last values before the deletion and mimeo_source_deleted set to that
// time. When a key was deleted several times between two refreshes, the
// last deletion is kept.
//
// A key that is re-used after its deletion (a new source row with the same
// key) replaces the kept row: the destination has one row per key, and the
// live row wins. An update that changes a row's key is not a deletion: the
// row moves to its new key and the old key's row is removed, as in dml.
// With a row condition, a deleted row is kept only when its last values
// match the condition (evaluated on them under the source table's name); a
// row updated out of the condition is removed, not marked.
//
// Repull (dml.Replicator.Repull, or the first refresh after a setup
// without data) replaces the live rows with every source row and keeps the
// rows marked deleted, except those whose key is live again; deletions
// still queued are kept too.
//
// A range repair (dml.Replicator.RepairRanges, scheduler.Repair) compares
// and replaces only live rows: the rows marked deleted in the repaired
// ranges stay, except those whose key is live on the source again, whose
// live row replaces the mark as a re-used key does.
//
// Unique indexes of the source other than the key are made on the
// destination unique among live rows only (partial, WHERE
// mimeo_source_deleted IS NULL), since a kept row may share values with a
// live one. Unlike mimeo, no index is made on mimeo_source_deleted: marking
// a deletion sets that column, and with an index on it every such update
// would add an entry to every index instead of being a HOT update. Create
// one if you query by deletion time.
//
// # Column changes
//
// As for dml (see its package documentation), with the queue in between:
// the queue keeps the replicated columns of deleted rows, so it is made
// anew after a column change. To add a column: Destroy the job with
// DestroyOptions.KeepTable (this removes the queue); add the column to the
// destination; add it to the source; Setup again with Options.AdoptDest (a
// new queue with the new column). The first refresh then repulls every
// row and keeps the rows marked deleted, which have the new column NULL.
// To drop a column: Destroy keeping the table, drop it from the source,
// Setup again with AdoptDest; the destination may keep the column for its
// history (it is then NULL in new rows: drop a NOT NULL constraint on it)
// or drop it.
package logdel
