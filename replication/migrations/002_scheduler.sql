-- Scheduling of catalog jobs by workers (package replication/scheduler).
--
-- A job with a period is due at next_run, which the scheduler sets after
-- each run, or a period after last_run when next_run is NULL or the job has
-- run since next_run (a job with neither is due at once). A worker claims a
-- due job by taking a session-level advisory lock on its own claim session
-- (first key 0x6d696d73, "mims"; second key the job id), which the server
-- releases when that session ends, so a claim never outlives its worker.
-- claimed_by and claimed_at only record who took the job last, for people
-- watching; the live claims are in the view "claims".

ALTER TABLE jobs
    ADD COLUMN next_run   timestamptz,
    ADD COLUMN claimed_by text,
    ADD COLUMN claimed_at timestamptz;

CREATE INDEX jobs_next_run_idx ON jobs (next_run) WHERE enabled AND period IS NOT NULL;

-- The jobs a worker holds a claim on right now, with the backend of its
-- claim session.
CREATE VIEW claims AS
SELECT j.job_id, j.kind, j.dest_schema, j.dest_table, j.claimed_by, j.claimed_at, l.pid AS claim_pid
FROM jobs j
JOIN pg_catalog.pg_locks l
  ON l.locktype = 'advisory'
 AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
 AND l.classid = 1835625843::oid
 AND l.objid = (j.job_id % 2147483648)::oid
 AND l.objsubid = 2
 AND l.granted;
