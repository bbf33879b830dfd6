-- A job's run settings that a worker applies when it refreshes the job,
-- beside period and enabled: how long a refresh waits for the
-- destination's lock (NULL: the worker's own setting) and whether its runs
-- go to the worker's job log. They change in place (Catalog.SetRunSettings,
-- Ensure).
ALTER TABLE jobs
    ADD COLUMN lock_wait interval,
    ADD COLUMN job_log   boolean NOT NULL DEFAULT true;
