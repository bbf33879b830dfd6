-- The registry of capture queues in the source database: one row per
-- destination fed by a trigger queue. Each queue's objects live in this
-- schema and are named after queue_id:
--   q<id>_0, q<id>_1   the two queue tables, filled in turn
--   q<id>_new(), q<id>_old() and, for a queue that keeps deleted rows,
--   q<id>_gone()       the trigger functions (SECURITY DEFINER), which
--                      name the table they fill in their bodies
-- and on the source table the triggers mimeo_q<id>, mimeo_q<id>_key and
-- mimeo_q<id>_del.
CREATE TABLE queues (
    queue_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_schema text NOT NULL,
    source_table  text NOT NULL,
    -- Which job reads the queue, as the destination side describes itself.
    destination   text NOT NULL,
    kind          text NOT NULL,
    keeps_deleted boolean NOT NULL,
    -- The queue table (0 or 1) the trigger functions fill; changed in the
    -- transaction that replaces them.
    filling       smallint NOT NULL DEFAULT 0 CHECK (filling IN (0, 1)),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX queues_source_idx ON queues (source_schema, source_table);
