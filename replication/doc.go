// Package replication is the shared vocabulary of pgmimeo: table references,
// the Replicator contract, common options, refresh results, typed errors, the
// advisory-lock guard, the catalog of replication jobs kept in the
// destination database, and the job-log interface that jobmon implements.
//
// Layering (who may import whom; TestImportRules asserts it):
//
//	internal/*             imports no public package of the module
//	replication            imports internal/* only; every other package imports it
//	replication/check      imports replication, internal/*; the kinds use its Preflight
//	snapshot, incremental  import replication, replication/check, internal/*
//	dml, dml/export        import replication, replication/check, internal/* and
//	                       dml/internal/keyapply (the key-apply machinery they share)
//	logdel                 imports dml's public API (logdel is dml keeping deletes)
//	jobmon                 imports internal/* only; replication talks to it via JobLog
//	replication/scheduler  imports no kind: the kinds come in its Config as Methods
//
// Each kind describes itself as a Method (its name, how to open a job of it
// from the catalog, its Prerequisites), so that what fans the kinds in (the
// scheduler, a service's worker, the checks) is given the kinds it runs.
//
// A replication job copies one source table into one destination table. Every
// refresh of a destination table holds an advisory lock keyed on that table
// (see Lock), so one table is refreshed by one worker at a time, whatever the
// number of processes and machines. A job's progress is stored in the catalog
// (see Catalog) in the same destination transaction as the rows it describes.
//
// # Safety rules every kind follows
//
// Durability: a destination transaction whose commit lets a source cleanup
// follow (a dml or logdel queue truncation, a logical slot confirmation, an
// export acknowledgement) runs SET LOCAL synchronous_commit = on, whatever
// the server, database or role sets, so an acknowledged commit cannot be
// lost in a crash after the source forgot the changes. Snapshot, table and
// incremental jobs keep their whole state in the transaction that writes
// their rows and may commit asynchronously (unless
// Options.DurableCommit).
//
// Conditions: a row condition is one piece of SQL from the operator, never
// statements. NormalizeCondition, through which every kind turns one into
// SQL, refuses any text that could end its statement or reach past its
// own end (';', unbalanced parentheses, unclosed literals or comments,
// '--' comments, backslashes outside E'…'), before it reaches a server;
// the setup probes that carry a condition go through the extended
// protocol, which accepts one statement only.
//
// Secrets: no secret is stored (the catalog's sources keep connection
// strings without password, sslpassword or any parameter named as a
// password, secret or token) or shown (connection strings in messages go
// through RedactDSN field by field; one that does not parse is shown
// redacted whole, never through the parser's own message).
//
// Setup: it serializes on the destination's lock (AcquireSetupLock), so of
// concurrent Setups of one destination one wins and the others get
// ErrExists; a destination schema that does not exist is refused by every
// kind (CheckDestSchema, ErrSchemaNotFound): pgmimeo creates none.
//
// # Declared jobs
//
// A service declares its jobs in Go and calls each replicator's Ensure at
// every start (see Ensure): a missing job is set up, one that differs in
// its run settings (RunSettings: period, paused, batch limit, lock wait,
// job logging) or in a kind's refresh-time settings is changed in place,
// one that differs in what fixes its shape is a *RebuildError, and one
// that is as declared is not touched, so no failed maker job piles up in
// the job log. Catalog.SetRunSettings and Catalog.SetEnabled change a
// job's run settings by hand; workers read them at every refresh.
//
// The maintenance checks (row counts, checksums, column drift,
// unreplicated tables, snapshot sizes, preflight) are in the sub-package
// replication/check.
package replication
