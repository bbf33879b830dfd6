-- The registry of capture queues in the source database: one row per
-- destination fed by a trigger queue. Each queue's objects live in this
-- schema and are named after queue_id:
--   q<id>_0, q<id>_1   the two queue tables, filled in turn
--   q<id>_slot         the sequence whose value names the table being filled
--   q<id>_capture()    the trigger function (SECURITY DEFINER)
-- and on the source table the trigger mimeo_q<id>.
CREATE TABLE queues (
    queue_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_schema text NOT NULL,
    source_table  text NOT NULL,
    -- Which job reads the queue, as the destination side describes itself.
    destination   text NOT NULL,
    kind          text NOT NULL,
    keeps_deleted boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX queues_source_idx ON queues (source_schema, source_table);
