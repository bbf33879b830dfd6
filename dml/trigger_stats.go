package dml

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// QueueTableStats describes one queue table.
type QueueTableStats struct {
	Table replication.Table
	// Bytes is its size on disk, with its TOAST table
	// (pg_total_relation_size).
	Bytes int64
	// Entries is the number of committed entries in it.
	Entries int64
}

// QueueStats describes the job's source queue.
type QueueStats struct {
	// Filling is the queue table the trigger is filling (0 or 1).
	Filling int
	// Tables are the two queue tables.
	Tables [2]QueueTableStats
}

// Bytes is the queue's total size on disk.
func (s QueueStats) Bytes() int64 { return s.Tables[0].Bytes + s.Tables[1].Bytes }

// Entries is the number of queued entries.
func (s QueueStats) Entries() int64 { return s.Tables[0].Entries + s.Tables[1].Entries }

// QueueStats reports the size of the job's source queue. Counting entries
// reads the queue tables.
func (r *Replicator) QueueStats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	row, err := r.catalog.Job(ctx, r.dest, r.Dest())
	if err != nil {
		return st, err
	}
	cfg, _, err := decodeJob(row)
	if err != nil {
		return st, err
	}
	q := &queue{Schema: cfg.QueueSchema, ID: cfg.QueueID, Source: row.SourceTable}
	if st.Filling, err = q.filling(ctx, r.source); err != nil {
		return st, err
	}
	for i := range st.Tables {
		t := q.Table(i)
		st.Tables[i].Table = t
		if err := r.source.QueryRow(ctx, `SELECT pg_catalog.pg_total_relation_size($1::pg_catalog.regclass), (SELECT count(*) FROM `+
			t.Sanitize()+`)`, t.Sanitize()).Scan(&st.Tables[i].Bytes, &st.Tables[i].Entries); err != nil {
			return st, fmt.Errorf("size of queue table %s: %w", t, err)
		}
	}
	return st, nil
}
