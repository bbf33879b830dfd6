// Package check holds the maintenance checks of replication jobs, as
// mimeo's and pg_jobmon's companions did them, on top of the shared
// vocabulary of package replication:
//
//   - ValidateRowCount and ValidateJobRowCount: row counts on both sides,
//     with control-value bounds for incremental jobs;
//   - Checksum and ChecksumJob: checksums by key ranges that name the
//     ranges and rows that differ, which each kind's RepairRanges
//     (RangeRepairer) re-pulls;
//   - SourceColumnDrift and CheckSourceColumns: source columns a job does
//     not replicate, or lost;
//   - UnreplicatedTables: source tables no job replicates;
//   - SourceSizes and MonitorSnapshots: snapshot sources that grew past a
//     threshold;
//   - Preflight: which kinds a source role can run, and the exact grant or
//     setting each missing one needs.
//
// Every row condition they are given goes through
// replication.NormalizeCondition, as the kinds' own do.
package check
