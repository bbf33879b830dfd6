package main

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// declared is a job of the file, built as its kind's replicator.
type declared interface {
	Ensure(ctx context.Context) (replication.Ensured, error)
	Plan(ctx context.Context) (replication.Ensured, error)
	Dest() replication.Table
}

// declare builds job j of the file, logging to log (nil: no job log; plan
// passes nil, as it runs nothing). progress, when set, follows the
// copies of whole-table kinds.
func (a *app) declare(ctx context.Context, j *jobfile.Job, log replication.JobLog, progress func(int64)) (declared, error) {
	dest, err := a.destination(ctx)
	if err != nil {
		return nil, err
	}
	src, err := a.source(ctx, j.Source)
	if err != nil {
		return nil, err
	}
	table, err := j.SourceTable()
	if err != nil {
		return nil, err
	}
	o, err := a.options(j, log)
	if err != nil {
		return nil, err
	}
	load := snapshot.LoadOptions{Progress: progress}
	switch j.Kind {
	case jobfile.KindSnapshot:
		return snapshot.New(src, dest, table, &snapshot.Config{Options: o, LoadOptions: load,
			SkipUnchanged: j.SkipUnchanged, PostScripts: j.PostScripts})
	case jobfile.KindTable:
		cfg := &snapshot.TableConfig{Options: o, LoadOptions: load, TruncateCascade: j.TruncateCascade}
		for _, s := range j.Sequences {
			seq, err := replication.ParseTable(s)
			if err != nil {
				return nil, err
			}
			cfg.Sequences = append(cfg.Sequences, seq)
		}
		return snapshot.NewTable(src, dest, table, cfg)
	case jobfile.KindInserter, jobfile.KindUpdater:
		cfg := &incremental.Config{Options: o, Control: j.Control, Type: incremental.ControlType(j.ControlType),
			SerialBoundary: j.SerialBoundary, LateCommit: j.LateCommit}
		if j.Boundary != nil {
			cfg.Boundary = &j.Boundary.D
		}
		if j.Kind == jobfile.KindInserter {
			return incremental.NewInserter(src, dest, table, cfg)
		}
		cfg.Key = j.Key
		return incremental.NewUpdater(src, dest, table, cfg)
	case jobfile.KindDML, jobfile.KindLogDel:
		cfg := &dml.Config{Options: o, Key: j.Key, QueueSchema: j.QueueSchema, FetchFirst: j.FetchFirst}
		if j.Capture == "logical" {
			cfg.Capture = dml.CaptureLogical
		}
		cfg.Logical.Slot, cfg.Logical.Spool = j.Slot, j.Spool
		if j.Kind == jobfile.KindLogDel {
			return logdel.New(src, dest, table, cfg)
		}
		return dml.New(src, dest, table, cfg)
	}
	return nil, fmt.Errorf("job at line %d: unknown kind %q", j.Line, j.Kind)
}

// options are the replication.Options of job j.
func (a *app) options(j *jobfile.Job, log replication.JobLog) (replication.Options, error) {
	o := replication.Options{
		Columns: j.Columns, Condition: j.Condition, SkipIndexes: j.SkipIndexes, DurableCommit: j.DurableCommit,
		BatchLimit: j.BatchLimit, Catalog: a.catalogSchema(), SourceName: j.Source, Period: j.Period.D,
		Paused: j.Paused, Unlogged: j.Unlogged, Logger: a.logger,
		LagWarning: j.LagWarning.D, LagCritical: j.LagCritical.D,
	}
	if log != nil {
		o.JobLog = log
	}
	if j.Dest != "" {
		dest, err := j.DestTable()
		if err != nil {
			return o, err
		}
		o.Dest = dest
	}
	if w := j.LockWait; w != nil {
		if w.Forever {
			o.LockWait = replication.Wait(0)
		} else {
			o.LockWait = replication.Wait(w.Wait)
		}
	}
	return o, nil
}
