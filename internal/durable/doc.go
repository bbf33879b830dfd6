// Package durable begins the transactions whose commit lets a source
// cleanup follow: truncating a source queue table, confirming a logical
// slot's position, or an exporter acknowledging a batch.
//
// Such a commit must survive a crash of the server that acknowledged it,
// or the changes it applied are lost for good (the source no longer holds
// them). PostgreSQL acknowledges a commit before its WAL is flushed when
// synchronous_commit is off, which a server, a database or a role may
// set. Every transaction begun here runs SET LOCAL synchronous_commit = on
// first, so its commit returns only once it is durable (and, with
// synchronous standbys, once they hold it), whatever those settings say.
//
// Pull-only jobs (snapshot, table, incremental) keep their whole state in
// the destination transaction that writes their rows, so a lost commit
// loses rows and state together and the next refresh pulls them again:
// they may commit asynchronously and do not use this package.
package durable
