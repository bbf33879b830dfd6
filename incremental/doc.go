// Package incremental replicates tables whose rows carry a control column
// that grows: a time or a serial number set on insert ([Inserter]) or on
// insert and every update ([Updater]). These are mimeo's inserter and
// updater methods, each by time or by serial, for high-write tables where a
// full copy is too slow and triggers on the source are not wanted. Deletes
// on the source are not replicated.
//
// # A refresh
//
// Each refresh reads the source in one REPEATABLE READ transaction and
// streams
//
//	COPY (SELECT cols FROM source WHERE cond AND ctl > last AND ctl <= upper ORDER BY ctl) TO STDOUT
//
// into the destination (internal/copypipe: binary where the types allow).
// The Inserter copies straight into the destination table. The Updater
// copies into a temporary table, then replaces by key, set-wise: one DELETE
// … USING and one INSERT … SELECT. The new last value (the highest control
// value pulled) is stored in the catalog in the same destination
// transaction as the rows, so a refresh killed at any point leaves rows and
// state as they were, and the next refresh pulls nothing twice and loses
// nothing. That transaction commits with synchronous_commit=off (unless
// replication.Options.DurableCommit): a commit lost in a crash loses the rows and the
// state that advanced past them together, and they are pulled again.
//
// Bounds go into the COPY query as quoted literals of the control column's
// type (COPY takes no parameters); values are kept in state as canonical
// text read the same way on every server, whatever its DateStyle and
// TimeZone.
//
// # Boundary
//
// A row becomes visible when its transaction commits, but its control
// value is fixed earlier: now() is the transaction's start, and a sequence
// value is taken at the insert. A transaction that stays open while later
// rows commit and are pulled would have its rows passed by. So the upper
// bound stays behind: the source's clock less [Config].Boundary for a Time
// job (default 10 minutes), the source's maximum less
// [Config].SerialBoundary for a Serial job (default 10; 0 is safe for a
// sequence-fed column only with late-commit mode or transactions that end
// before the next refresh).
//
// A source transaction open longer than the boundary can still lose rows.
// Every refresh checks for writing transactions (those with a transaction
// id) in the source database open longer than [Config].LongTransaction (by
// default the boundary for Time jobs, boundary plus look-back in late-commit
// mode, 10 minutes for Serial jobs) and reports them in Result.Warnings and
// as a WARNING step (job level 2) in the job log. Sessions of other roles
// are seen only when the source role has pg_read_all_stats (or pg_monitor);
// a transaction that has not written yet is not seen.
//
// # Batch limit
//
// With Options.BatchLimit, a refresh pulls at most that many rows and never
// splits rows that share a control value: when the limit cuts through a
// value the batch stops before it (Result.More, and a warning, as mimeo
// does); when a single value has more rows than the limit the refresh fails
// with [ErrBatchLimit] and changes nothing, instead of looping or losing
// rows. Raise the limit (a run-time setting) to move them.
//
// # Setup and initial state
//
// Setup records the job, creates the destination table, pulls every row up
// to the upper bound into the bare table (COPY FREEZE), then builds the
// source's indexes (and, for the Updater, a unique index on the key). The
// last value is the destination's highest control value; when nothing was
// pulled (Options.SkipPull, or an empty source) it is the setup time less
// the boundary for a Time job (so, as in mimeo, older rows are not pulled:
// Repull pulls them) and no bound for a Serial job (the first refresh
// pulls every row). An existing destination table is refused (ErrExists)
// unless Options.AdoptDest: then it is adopted as it is, without pulling,
// from its highest control value.
//
// # Daylight saving
//
// When the source's time zone (SHOW TimeZone) changes its UTC offset on the
// current day, Time jobs do not run between [Config].DSTStart and
// [Config].DSTEnd local time (default 00:30–02:30): Refresh returns a
// Result with Skipped set and the reason, logged as a cancelled run.
// Sources in UTC, or any zone without daylight saving, are never paused.
// [Config].Now supplies the clock.
//
// # Repull
//
// Repull empties the destination and pulls everything up to the upper
// bound. RepullRange replaces the rows whose control values lie in an
// exclusive range (start, end), up to the last value pulled, and leaves the
// state alone.
//
// # Late-commit mode
//
// [Config].LateCommit (beyond mimeo) removes the need for a boundary: every
// refresh records the source's pg_current_snapshot(), and the next refresh
// also reads the rows with control values in a look-back window below the
// last value, (last − LookBack, last], whose writing transaction (xmin) was
// not visible in that snapshot, that is, committed after the previous
// refresh read the source. With a boundary of 0 a row committed late
// arrives on the first refresh after its commit, once. The Inserter adds
// such rows with ON CONFLICT DO NOTHING, the Updater replaces them by key.
//
// The window is [Config].LookBack for Time jobs (default one hour) and
// [Config].SerialLookBack for Serial jobs (default 10000 values): a row
// whose control value is further below the last value when it commits is
// not seen. The cost is one extra range scan of the window per refresh,
// which needs an index on the control column to be cheap. It cannot see:
// rows of views and foreign tables (no xmin; the mode is refused for them);
// rows written in a subtransaction (SAVEPOINT, a PL/pgSQL exception block)
// whose id was assigned before the previous refresh, because
// pg_current_snapshot() lists top-level transactions only; rows older than
// 2^32 transactions; and, for an Inserter whose destination has no unique
// index, a row that was updated after being pulled (it would be added
// again).
//
// # Options
//
// Column filter (the key and control columns cannot be left out), row
// condition (on the source table's own columns; it is checked at setup),
// custom destination, index replication (indexes on filtered-out columns
// are skipped), views as sources (the Updater needs [Config].Key), job
// logging through Options.JobLog (jobs named as mimeo's: "Refresh Inserter:
// schema.table", "Updater Maker: …", "Inserter Destroyer: …"), lock wait,
// and Destroy with KeepTable. Identity settings (control column, type,
// filter, condition, key) are fixed at setup; the others may change between
// runs. [Open] rebuilds a job from the catalog alone.
package incremental
