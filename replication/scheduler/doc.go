// Package scheduler runs the jobs of a destination's replication catalog:
// on a schedule ([Scheduler]), one by name ([Open]), or to repair what a
// checksum validation found different ([Repair]). It lives apart from
// package replication so that it may import every replication kind.
//
// # Scheduling
//
// A job with a period (replication.Options.Period) is due when its period
// has passed since its last run. [Scheduler.Run] runs due jobs until its
// context ends, [Config.Concurrency] at once; [Scheduler.RunDue] runs the
// jobs due now once each and returns, for cron.
//
// Any number of schedulers, in any number of processes on any number of
// machines, share the work of one catalog without a coordinator of their
// own. A scheduler claims a due job in one short transaction: it locks the
// job's catalog row (SELECT … FOR NO KEY UPDATE SKIP LOCKED, so claimers
// never wait for each other), takes the job's claim lock, an advisory lock
// held on a session the scheduler keeps for its claims, and notes its name
// in the row (claimed_by). It then refreshes the job (the replicator holds
// the destination table's refresh lock while it works), records when the
// job is next due (next_run), and lets the claim go. So:
//
//   - a due job runs once per period: its next run is recorded, or its
//     state committed with its rows (last_run), before its claim is let go;
//   - no job runs twice at once: a job claimed elsewhere is not claimed,
//     and a job whose refresh lock is held (a refresh run by hand, or the
//     session of a worker that has just died) is put back for
//     [Config.Backoff] without a run;
//   - a claim never outlives its worker: the server lets its advisory locks
//     go when the claim session ends, at once when the process dies, and
//     within [Config.ClaimKeepalive] (TCP keepalives set on that session)
//     when its machine vanishes. The dead worker's refreshes roll back, and
//     their jobs, still due, are taken by the others. A worker killed after
//     its refresh committed but before it recorded the next run leaves a
//     job that is not run again: its committed last_run counts.
//
// The view "claims" in the catalog schema lists the live claims.
//
// A failed refresh is logged to the job log (by the replicator, or by the
// scheduler as "Scheduled Refresh: schema.table" when the job could not be
// opened), counted in the catalog (failures, last_error), and backed off:
// the job is next due no sooner than its period and than [Config.Backoff]
// doubled with every failure in a row (up to [Config.MaxBackoff]). One
// failing job never stops the others; a panic in a replicator is a failure
// of its job.
//
// # Spools
//
// A job that asks to have its changes read ahead of its refreshes
// (replication.Method.Spools: a dml or logdel job with logical capture and
// dml.Config.Logical.Spool, "spool: true" in a job file) gets a Spool from
// [Scheduler.Run]: of all the workers, the first to try runs it, up to
// [Config.Spools] on each, and the Spool's own advisory lock keeps the
// others from running a second one. The others try again every
// [Config.Backoff], so when the worker that runs it stops or dies, another
// takes it over. A Spool whose job is paused, destroyed or no longer asks
// for one is stopped; [Scheduler.RunDue] runs none.
//
// # Kinds
//
// The scheduler imports no kind: [Config.Methods] lists the kinds it runs
// as values (replication.Method), each exported by its own package
// (snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method,
// logdel.Method), which rebuild a job's replicator from the catalog. A
// claimed job of a kind no method opens fails with [ErrNoMethod], never
// skipped in silence.
//
// # Repair
//
// [Repair] checks a job with check.ChecksumJob, re-pulls the key
// ranges that differ through the replicator's RepairRanges
// (check.RangeRepairer; every kind of this module has it) and
// checks again.
//
// # Sources
//
// The catalog records each job's source by name with a connection string
// without its password. The scheduler opens one pool per source from it,
// with the password from PGPASSWORD, a pgpass file or a service file, as
// pgx reads them; or it asks [Config.Connect].
package scheduler
