-- job_log.pid is NOT NULL, as in pg_jobmon 1.x. A job whose backend the
-- logger was not told is recorded with 0, a pid no backend has; rows
-- logged before without one get 0 too.
UPDATE job_log SET pid = 0 WHERE pid IS NULL;
ALTER TABLE job_log ALTER COLUMN pid SET NOT NULL;
