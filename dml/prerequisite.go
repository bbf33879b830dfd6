package dml

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// Prerequisite is what a job of this configuration needs of the source,
// by its capture and whether it keeps deleted rows: the one list Setup
// checks, and that Method (and logdel.Method) declare for check.Preflight.
//
// Trigger capture: USAGE and SELECT, a key, TRIGGER on the table and a
// schema for the queue. Logical capture: USAGE and SELECT, a key, the
// REPLICATION attribute, wal_level = logical, a free slot and WAL sender,
// the right to create the job's publication (the table's ownership and
// CREATE on the database) and a replica identity that carries the key;
// keeping deleted rows, REPLICA IDENTITY FULL.
func (c *Config) Prerequisite() replication.Prerequisite {
	p := replication.Prerequisite{Kind: replication.KindDML, Logical: c.Capture == CaptureLogical,
		Requires: []replication.Requirement{replication.ReqSchemaUsage, replication.ReqSelect, replication.ReqKey}}
	if c.KeepDeleted {
		p.Kind = replication.KindLogDel
	}
	if !p.Logical {
		p.Requires = append(p.Requires, replication.ReqTrigger, replication.ReqQueueSchema)
		return p
	}
	p.Requires = append(p.Requires, replication.ReqReplication, replication.ReqWalLevel, replication.ReqSlot,
		replication.ReqWalSender, replication.ReqPublication, replication.ReqReplicaIdentity)
	if c.KeepDeleted {
		p.Requires = append(p.Requires, replication.ReqReplicaIdentityFull)
	}
	return p
}

// requirePrerequisite fails setup early, before anything is created, when
// the source lacks a prerequisite of the job (see Config.Prerequisite);
// the error names the table and the statement that provides it.
func (r *Replicator) requirePrerequisite(ctx context.Context, key []string) error {
	rep, err := check.Preflight(ctx, r.source, r.table, &check.PreflightConfig{
		Columns: r.cfg.Columns, Key: key, QueueSchema: r.cfg.queueSchema()})
	if err != nil {
		return err
	}
	return rep.RequireOf(r.cfg.Prerequisite())
}
