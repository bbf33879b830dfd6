-- Lag. synced_at is the moment, by the destination server's clock, before
-- which every source change a job replicates was held by its destination
-- as of the job's last run that caught up (a refresh or repull that did not
-- stop at a batch limit, or a setup that pulled): the destination's data is
-- at most clock_timestamp() - synced_at old. The one job run sets it after
-- the run's own commit, so a crash in between leaves it older, never newer.
-- NULL: unknown (never caught up, or a kind that cannot say).
--
-- lag_warning and lag_critical are the job's thresholds on that age, run
-- settings like the period (NULL: derived from the period).
ALTER TABLE jobs
    ADD COLUMN synced_at    timestamptz,
    ADD COLUMN lag_warning  interval,
    ADD COLUMN lag_critical interval;
