-- How far behind its start the job's last run that caught up left the
-- destination by design (Result.SyncLag): a time-based incremental job's
-- boundary, about a minute for a snapshot skipped by its statistics, 0 for
-- the other kinds. The thresholds derived from the period start from it, so
-- that a job is not called late for the delay it was set up to keep.
-- NULL: not recorded yet (read as 0).
ALTER TABLE jobs
    ADD COLUMN sync_lag interval;
