// Package replication is the shared vocabulary of pgmimeo: table references,
// the Replicator contract, common options, refresh results, typed errors, the
// advisory-lock guard, the catalog of replication jobs kept in the
// destination database, and the job-log interface that jobmon implements.
//
// Layering (who may import whom):
//
//	replication            imports internal/* only; every other package imports it
//	snapshot, incremental  import replication, internal/*
//	dml                    imports replication, internal/*; dml/export imports dml
//	logdel                 imports dml (the one replicator-to-replicator edge)
//	jobmon                 imports internal/* only; replication talks to it via JobLog
//	replication/scheduler  imports every kind; nothing imports it
//
// A replication job copies one source table into one destination table. Every
// refresh of a destination table holds an advisory lock keyed on that table
// (see Lock), so one table is refreshed by one worker at a time, whatever the
// number of processes and machines. A job's progress is stored in the catalog
// (see Catalog) in the same destination transaction as the rows it describes.
//
// The maintenance checks live here too: ValidateRowCount, SourceColumnDrift
// and CheckSourceColumns, UnreplicatedTables, MonitorSnapshots, Checksum (which names the key ranges and rows that differ)
// and Preflight (which replication kinds a source role can run, and the
// exact grant or setting each missing one needs).
package replication
