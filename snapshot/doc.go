// Package snapshot replicates whole tables, as mimeo's snapshot and table
// methods do: every refresh copies every row the job selects, streamed with
// COPY from the source straight into the destination (binary where the
// column types allow), so a refresh runs as fast as a hand-made
// "psql COPY | psql COPY" pipe.
//
// Two kinds of job implement [replication.Replicator]:
//
//   - [Snapshot]: the destination is a view over two tables, <dest>_snap1
//     and <dest>_snap2. A refresh truncates the table the view does not
//     show, drops its indexes, loads it with COPY … FREEZE, builds the
//     indexes again, analyses it, and points the view at it. Everything
//     happens in one destination transaction, which holds the view's lock
//     only for the swap at its end, so readers of the view always see one
//     complete copy and are never kept waiting for the load. The job's state
//     (which table is live, the source's column signature and change
//     statistics) is saved in that same transaction.
//   - [Table]: the destination is a plain table, truncated and reloaded by
//     every refresh, with options to truncate tables that reference it
//     (TableConfig.TruncateCascade) and to reset sequences to the highest
//     value in use (TableConfig.Sequences). It suits pulling production data
//     into a development database; the source role needs only SELECT.
//
// # Skipping unchanged sources
//
// By default every Snapshot refresh pulls, so a refresh holds every change
// committed on the source before it started. With Config.SkipUnchanged, a
// refresh first reads the source's statistics (pg_stat_all_tables) for
// every table the pull query reads, the joined tables of a condition
// included, and skips the pull when none of them has had an insert,
// update, delete or truncate since the last refresh. A statistics reset, a
// truncate, a re-created table or a server restart all make the next
// refresh pull. The skip guarantees less than a pull: PostgreSQL publishes
// a session's statistics after its commit, within about a second normally
// (up to a minute on a very busy server), so a change committed that
// shortly before a refresh may be pulled only by a later refresh; a source
// quiet for longer than that is skipped rightly. Sources that statistics
// cannot vouch for (views, foreign tables, set-returning functions) are
// always pulled; a condition that depends on the time or on functions
// reading other tables must leave SkipUnchanged off.
//
// # Column changes
//
// When the source's columns change (added, dropped, renamed, retyped, or
// their NOT NULL changed), the next Snapshot refresh rebuilds both tables
// and the view with the new columns: the new copy is built while readers
// still use the old view, then the view is replaced under its lock. The
// privileges granted on the view and the tables, their owner, the view's
// comment and options are kept; the source's indexes are made again unless
// SkipIndexes; the job's Config.PostScripts then re-create whatever else was
// added to the destination by hand. A view that other views depend on
// cannot be replaced: such a refresh fails and says so.
//
// # Crash safety
//
// Rows, the view swap and the job's state commit in one destination
// transaction. A refresh whose source or destination connection dies
// mid-copy leaves the previous copy serving and the job's state as it was;
// the next refresh starts over. The destination transaction commits with
// synchronous_commit=off unless Options.DurableCommit: losing the last
// commit in a server crash only means the next refresh repeats it.
//
// # Options
//
// [Config] and [TableConfig] embed [replication.Options] (column filter, row
// condition in mimeo's form including ", other_table WHERE …" joins,
// destination name, index replication, pull at setup, lock wait, job log,
// logger, catalog schema) and [LoadOptions]. Index replication copies the
// primary key and unique constraints as constraints and every other index
// (unique, partial, expression) as the same index; it is not possible with a
// column filter, and New says so. The job's options are recorded in the
// catalog at setup; later refreshes use the recorded ones.
package snapshot
