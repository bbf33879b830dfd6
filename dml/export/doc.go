// Package export ships a table's changes through files, for destinations
// that no connection from the source can reach (another network, another
// company, a one-way link). It is the shadow-table exporter and importer of
// the 2011 Rakefile tool, made safe.
//
// # How it works
//
// On the source, a trigger on the exported table records the key of every
// inserted, updated and deleted row, with the transaction that changed it,
// in a shadow table. Tracking tables remember, per target (a host and
// database label), the batches exported and the last one acknowledged.
//
//	ex, _ := export.NewExporter(sourcePool, replication.T("public", "orders"), nil)
//	_ = ex.Install(ctx)                        // tracking tables, shadow table, trigger
//	res, _ := ex.Export(ctx, target, "/outbox") // one batch directory for target
//
// On the destination, the importer applies a batch in one transaction and
// writes an acknowledgement, which goes back to the source:
//
//	im, _ := export.NewImporter(destPool, nil)
//	_ = im.Install(ctx)                     // the record of applied batches
//	r, _ := im.Import(ctx, res.Dir)          // apply, then write r.AckPath
//	_, _ = ex.Acknowledge(ctx, r.AckPath)    // or ex.Confirm(ctx, target, batch)
//
// An export holds every change the target has not acknowledged: a batch
// that was lost on the way is covered by the next one. A target's first
// export, and the first after [Exporter.Reset], is full: every row, and the
// import replaces the destination's rows. Several targets of one table
// are independent.
//
// The import checks every file against the manifest's sizes and SHA-256
// checksums before it applies anything, and refuses (a *[BatchError]) a
// corrupt batch ([ErrCorrupt]), a batch older than the last applied one or
// one that builds on a batch the destination has not applied
// ([ErrOutOfOrder]), and a batch of another stream ([ErrWrongStream]).
// Importing a batch again changes nothing. The destination keeps the last
// applied batch per table in the same transaction as the rows.
//
// An incremental batch deletes the keys without a row and merges the rows
// (with dml's merge, or dml's delete-and-insert when a unique index
// besides the key could collide): rows whose values did not change are not rewritten. The
// destination may have columns the source lacks: they keep their values.
//
// # The SQL
//
// [TrackingSQL], [ExporterSQL], [ImporterSQL] and [ResetSQL] return the SQL
// text the install functions run ([InstallTracking], [Exporter.Install],
// [InstallImporter], [Exporter.Reset]), for a DBA to review or run by hand.
// Every name in it is a quoted identifier; nothing is pasted in unquoted.
// No superuser is needed: the source role needs SELECT and TRIGGER on the
// table and must own the export schema (default "mimeo_export") or be
// allowed to create it; the destination role needs SELECT, INSERT, UPDATE
// and DELETE on the table and must own the import schema (default
// "mimeo_import") or be allowed to create it.
//
// The exported table needs a key column ([ExporterConfig].Key, default
// "id", typically fed by a sequence): NOT NULL, with a unique index of its
// own.
//
// # Files (format version 1)
//
// Export writes the directory "<table>.<target>.<batch>" in the given
// directory, where table and target are the names with every character
// but ASCII letters, digits, '-' and '_' replaced by '_' (at most 40
// bytes) followed by '-' and 8 hex digits of a hash of the exact name, and
// batch is the batch number in 10 digits. It holds:
//
//   - columns.csv: CSV (RFC 4180), a header line "name,type", then the
//     table's columns in order: the name and the type as format_type gives
//     it.
//   - ids.copy: the keys changed since the target's acknowledged batch (for
//     a full batch, every key), one per line, in PostgreSQL's COPY text
//     format.
//   - rows.copy: the current rows of those keys that still exist, with the
//     columns of columns.csv, in COPY text format (tab-separated, \N for
//     NULL, backslash escapes; UTF-8).
//   - manifest.json: see [Manifest]: source, table, key, target, batch
//     number, the batch it builds on (since), whether it is full, the
//     source snapshot, and for each file its name, record count, size and
//     SHA-256.
//
// The files are written under a temporary name (starting
// ".pgmimeo-tmp-"), each synced, the manifest last, then the directory is
// synced and renamed into place and its parent synced: a batch directory
// under its final name is complete. The batch is recorded on the source
// before the rename, so a crash in between leaves a number that is never
// delivered, whose changes the next export holds.
//
// The acknowledgement ("<batch directory name>.ack.json", next to the
// batch directory unless ImporterConfig.AckDir says otherwise) is JSON:
// see [Ack]. It carries the manifest's SHA-256, which the exporter checks.
//
// # Consistency
//
// Each shadow entry records its transaction id (xid8). An export reads the
// changed keys, the rows and its snapshot in one REPEATABLE READ
// transaction; a target's position is the snapshot of its acknowledged
// batch, and the next export takes every entry not visible in it. A change
// committed after an export's snapshot, even by a transaction that began
// before it, is in a later batch. Shadow entries visible to every target's
// position are deleted by the next export. Exports, acknowledgements and
// resets of one table are serialized by an advisory lock.
package export
