package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// noArgs refuses arguments as bad usage.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no argument (got %q)", cmd.Name(), args[0])
	}
	return nil
}

// selectJobs returns the jobs named by args (destination tables), or with
// all every job: the job file's when one is given, else the catalog's.
func (a *app) selectJobs(ctx context.Context, args []string, all bool) ([]*replication.Job, error) {
	if err := a.load(false); err != nil {
		return nil, err
	}
	if all == (len(args) > 0) {
		return nil, usagef("name the jobs by their destination tables, or give --all")
	}
	dest, err := a.destination(ctx)
	if err != nil {
		return nil, err
	}
	cat := a.cat()
	if exists, err := cat.Exists(ctx, dest); err != nil {
		return nil, err
	} else if !exists {
		return nil, fmt.Errorf("no job catalog in schema %q of the destination: apply a job file first (or give --catalog)", cat.Schema())
	}
	var tables []replication.Table
	switch {
	case all && a.jf != nil:
		for i := range a.jf.Jobs {
			t, _ := a.jf.Jobs[i].DestTable()
			tables = append(tables, t)
		}
	case all:
		return cat.Jobs(ctx, dest, nil)
	default:
		for _, arg := range args {
			t, err := replication.ParseTable(arg)
			if err != nil {
				return nil, usagef("%q: %v", arg, err)
			}
			tables = append(tables, t)
		}
	}
	var jobs []*replication.Job
	for _, t := range tables {
		j, err := cat.Job(ctx, dest, t)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// openJob rebuilds the replicator of catalog job j, logging to the job
// log; progress, when set, follows the copies of whole-table kinds.
func (a *app) openJob(ctx context.Context, j *replication.Job, progress func(int64)) (replication.Replicator, *pgxpool.Pool, error) {
	return a.openJobLogged(ctx, j, progress, true)
}

// openJobLogged is openJob; logged false opens it without the job log,
// for reads that run nothing.
func (a *app) openJobLogged(ctx context.Context, j *replication.Job, progress func(int64), logged bool) (replication.Replicator, *pgxpool.Pool, error) {
	dest, err := a.destination(ctx)
	if err != nil {
		return nil, nil, err
	}
	src, err := a.source(ctx, j.SourceName)
	if err != nil {
		return nil, nil, err
	}
	var log replication.JobLog
	if logged {
		if log, err = a.jobLogger(ctx); err != nil {
			return nil, nil, err
		}
	}
	o := replication.Options{Catalog: a.catalogSchema(), Logger: a.logger, LockWait: j.LockWait}
	if log != nil {
		o.JobLog = log
	}
	load := snapshot.LoadOptions{Progress: progress}
	var r replication.Replicator
	switch j.Kind {
	case replication.KindSnapshot:
		r, err = snapshot.Open(ctx, src, dest, j.Dest, &snapshot.Config{Options: o, LoadOptions: load})
	case replication.KindTableReload:
		r, err = snapshot.OpenTable(ctx, src, dest, j.Dest, &snapshot.TableConfig{Options: o, LoadOptions: load})
	default:
		m, ok := replication.Methods(methods...)[j.Kind]
		if !ok {
			return nil, nil, fmt.Errorf("job %s: this pgmimeo does not know kind %q", j.Dest, j.Kind)
		}
		r, err = m.Open(ctx, src, dest, j.Dest, o)
	}
	return r, src, err
}

// wholeTable reports whether kind k copies the whole table at every refresh.
func wholeTable(k replication.Kind) bool {
	return k == replication.KindSnapshot || k == replication.KindTableReload
}

// fileKind is the job file's name of catalog kind k.
func fileKind(k replication.Kind) string {
	switch k {
	case replication.KindInserterTime, replication.KindInserterSerial:
		return jobfile.KindInserter
	case replication.KindUpdaterTime, replication.KindUpdaterSerial:
		return jobfile.KindUpdater
	}
	return string(k)
}
