-- The catalog of replication jobs kept in the destination database.

-- Where sources are: connection settings without any secret. The password,
-- if one is needed, comes at run time from the caller, PGPASSWORD or a
-- pgpass file.
CREATE TABLE sources (
    name        text PRIMARY KEY,
    conninfo    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per replication job (one destination table each).
CREATE TABLE jobs (
    job_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    source_name   text NOT NULL,
    source_schema text NOT NULL,
    source_table  text NOT NULL,
    dest_schema   text NOT NULL,
    dest_table    text NOT NULL,
    -- The job's options, as the kind's package stores them.
    config        jsonb NOT NULL DEFAULT '{}',
    -- The job's progress, written in the transaction that writes the rows.
    state         jsonb NOT NULL DEFAULT '{}',
    period        interval,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_run      timestamptz,
    last_ok       timestamptz,
    last_error    text,
    failures      integer NOT NULL DEFAULT 0,
    CONSTRAINT jobs_dest_unique UNIQUE (dest_schema, dest_table),
    CONSTRAINT jobs_kind_check CHECK (kind IN ('snapshot', 'table', 'inserter_time', 'inserter_serial',
        'updater_time', 'updater_serial', 'dml', 'logdel'))
);

CREATE INDEX jobs_source_idx ON jobs (source_name, source_schema, source_table);
