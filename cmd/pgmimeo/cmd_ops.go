package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// outcome is what an operation did to one job.
type outcome struct {
	Job      string  `json:"job"`
	Kind     string  `json:"kind"`
	OK       bool    `json:"ok"`
	Inserted int64   `json:"inserted,omitempty"`
	Updated  int64   `json:"updated,omitempty"`
	Deleted  int64   `json:"deleted,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
	More     bool    `json:"more,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
	Detail   string  `json:"detail,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func (o *outcome) result(r replication.Result) {
	o.Inserted, o.Updated, o.Deleted, o.Bytes, o.More = r.Inserted, r.Updated, r.Deleted, r.Bytes, r.More
	o.Seconds = r.Duration.Seconds()
	if r.Skipped {
		o.Skipped = r.SkipReason
	}
	if len(r.Warnings) > 0 {
		o.Detail = "warnings: " + strings.Join(r.Warnings, "; ")
	}
}

// eachJob runs op on the selected jobs, one after the other, prints what
// each did, and returns the first failure (or errDifferent, which op
// reports by returning it) once all have run.
func (a *app) eachJob(cmd *cobra.Command, args []string, all bool, op func(ctx context.Context, j *replication.Job, o *outcome) error) error {
	ctx := cmd.Context()
	jobs, err := a.selectJobs(ctx, args, all)
	if err != nil {
		return err
	}
	var out []outcome
	var rows [][]string
	var first error
	for _, j := range jobs {
		o := outcome{Job: j.Dest.String(), Kind: fileKind(j.Kind)}
		err := op(ctx, j, &o)
		o.OK = err == nil
		if err != nil && !errors.Is(err, errDifferent) {
			o.Error = err.Error()
		}
		if err != nil && first == nil {
			first = fmt.Errorf("job %s: %w", j.Dest, err)
		}
		out = append(out, o)
		rows = append(rows, []string{o.Job, o.Kind, o.text()})
		if ctx.Err() != nil {
			break
		}
	}
	if err := a.print(out, []string{"JOB", "KIND", "RESULT"}, rows); err != nil {
		return err
	}
	return first
}

// text is the result column of o.
func (o *outcome) text() string {
	var parts []string
	switch {
	case o.Error != "":
		parts = append(parts, "failed: "+o.Error)
	case o.Skipped != "":
		parts = append(parts, "skipped: "+o.Skipped)
	case o.Inserted+o.Updated+o.Deleted > 0 || o.Seconds > 0:
		parts = append(parts, fmt.Sprintf("%d inserted, %d updated, %d deleted in %.1fs", o.Inserted, o.Updated, o.Deleted, o.Seconds))
	}
	if o.More {
		parts = append(parts, "more to move (batch limit)")
	}
	if o.Detail != "" {
		parts = append(parts, o.Detail)
	}
	if len(parts) == 0 {
		return "ok"
	}
	return strings.Join(parts, "; ")
}

func refreshCmd(a *app) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "refresh [dest-table…]",
		Short: "Refresh jobs now",
		Long: `refresh runs one refresh of each named job (or every job with --all), as a
worker would, logging it to the job log; a paused job is refreshed too.
A job whose lock another refresh holds is reported as failed (the lock
wait is the job's).`,
		Example: "  pgmimeo refresh public.orders\n  pgmimeo refresh --all -f jobs.yaml",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachJob(cmd, args, all, func(ctx context.Context, j *replication.Job, o *outcome) error {
				return a.pull(ctx, j, o, false)
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every job (of the job file, or of the catalog without -f)")
	return c
}

func repullCmd(a *app) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "repull [dest-table…]",
		Short: "Reload every row of jobs",
		Long: `repull reloads every row of each named job (or every job with --all):
incremental, dml and logdel jobs empty their destination and pull it again
in one transaction (their progress and queue kept consistent); snapshot
and table jobs, which pull every row at each refresh, are refreshed.`,
		Example: "  pgmimeo repull public.events",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachJob(cmd, args, all, func(ctx context.Context, j *replication.Job, o *outcome) error {
				return a.pull(ctx, j, o, true)
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every job (of the job file, or of the catalog without -f)")
	return c
}

// pull refreshes or repulls job j.
func (a *app) pull(ctx context.Context, j *replication.Job, o *outcome, repull bool) error {
	var p *progress
	if wholeTable(j.Kind) {
		src, err := a.source(ctx, j.SourceName)
		if err != nil {
			return err
		}
		p = a.progressFor(ctx, src, "pull "+j.SourceTable.String(), j.SourceTable)
	}
	r, _, err := a.openJob(ctx, j, p.callback())
	if err != nil {
		return err
	}
	defer p.finish()
	var res replication.Result
	if rp, ok := r.(interface {
		Repull(ctx context.Context) (replication.Result, error)
	}); ok && repull {
		res, err = rp.Repull(ctx)
	} else {
		res, err = r.Refresh(ctx)
	}
	o.result(res)
	return err
}

func validateCmd(a *app) *cobra.Command {
	var all bool
	var ranges int
	c := &cobra.Command{
		Use:   "validate [dest-table…]",
		Short: "Compare row counts and checksums of source and destination",
		Long: `validate compares each named job's (or every job's with --all)
destination with its source: the row count, then a checksum by key ranges
that names the ranges whose rows differ. Rows an incremental job has not
pulled yet and rows a logdel job keeps deleted are left out. It changes
nothing; it exits 4 when a destination differs (repair fixes that).`,
		Example: "  pgmimeo validate public.orders\n  pgmimeo validate --all --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachJob(cmd, args, all, func(ctx context.Context, j *replication.Job, o *outcome) error {
				dest, err := a.destination(ctx)
				if err != nil {
					return err
				}
				src, err := a.source(ctx, j.SourceName)
				if err != nil {
					return err
				}
				rc, err := check.ValidateJobRowCount(ctx, src, dest, a.cat(), j.Dest, nil)
				if err != nil {
					return err
				}
				sum, err := check.ChecksumJob(ctx, src, dest, a.cat(), j.Dest, &check.ChecksumConfig{Ranges: ranges})
				if err != nil {
					return err
				}
				o.Detail = fmt.Sprintf("rows: %d on the source, %d on the destination; checksum: ", rc.SourceCount, rc.DestCount) + describeChecksum(sum)
				if !sum.Match || !rc.Match {
					return errDifferent
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every job (of the job file, or of the catalog without -f)")
	c.Flags().IntVar(&ranges, "ranges", 0, "key ranges of the first checksum pass (default 16)")
	return c
}

// describeChecksum says what a checksum found.
func describeChecksum(s *check.ChecksumResult) string {
	if s.Match {
		return fmt.Sprintf("equal (%d rows in %d ranges)", s.SourceRows, s.RangesCompared)
	}
	var rs []string
	for i, r := range s.Ranges {
		if i == 5 {
			rs = append(rs, fmt.Sprintf("and %d more", len(s.Ranges)-5))
			break
		}
		rs = append(rs, rangeText(r))
	}
	return fmt.Sprintf("%d key range(s) differ: %s", len(s.Ranges), strings.Join(rs, ", "))
}

func repairCmd(a *app) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "repair [dest-table…]",
		Short: "Re-pull the key ranges a checksum finds different",
		Long: `repair validates each named job (or every job with --all) with a
checksum, re-pulls the key ranges that differ from one source snapshot in
one destination transaction, and validates again. It exits 4 when a
destination still differs (the source changed meanwhile: run it again).`,
		Example: "  pgmimeo repair public.orders",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachJob(cmd, args, all, func(ctx context.Context, j *replication.Job, o *outcome) error {
				dest, err := a.destination(ctx)
				if err != nil {
					return err
				}
				src, err := a.source(ctx, j.SourceName)
				if err != nil {
					return err
				}
				log, err := a.jobLogger(ctx)
				if err != nil {
					return err
				}
				rc := &scheduler.RepairConfig{Methods: methods, Runtime: scheduler.Runtime{Catalog: a.catalogSchema(), Logger: a.logger, LockWait: j.LockWait}}
				if log != nil {
					rc.JobLog = log
				}
				rep, err := scheduler.Repair(ctx, src, dest, j.Dest, rc)
				if err != nil {
					return err
				}
				o.result(rep.Repair)
				switch {
				case rep.After == nil:
					o.Detail = "nothing to repair: " + describeChecksum(rep.Before)
				default:
					o.Detail = fmt.Sprintf("repaired %d range(s); after: %s", len(rep.Before.Ranges), describeChecksum(rep.After))
				}
				if !rep.Repaired() {
					return errDifferent
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every job (of the job file, or of the catalog without -f)")
	return c
}

func destroyCmd(a *app) *cobra.Command {
	var all, keep, yes bool
	c := &cobra.Command{
		Use:   "destroy [dest-table…]",
		Short: "Remove jobs: catalog row, source objects and destination table",
		Long: `destroy removes each named job (or, with --all --yes, every job of the
job file, or of the catalog without -f): its catalog row, its source
objects (dml and logdel triggers, queue, publication and slot) and its
destination table, unless --keep-table.`,
		Example: "  pgmimeo destroy public.orders\n  pgmimeo destroy public.orders --keep-table\n  pgmimeo destroy --all --yes -f jobs.yaml",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && !yes {
				return usagef("destroy --all removes every job and its destination tables: add --yes to confirm")
			}
			return a.eachJob(cmd, args, all, func(ctx context.Context, j *replication.Job, o *outcome) error {
				r, _, err := a.openJob(ctx, j, nil)
				if err != nil {
					return err
				}
				if err := r.Destroy(ctx, &replication.DestroyOptions{KeepTable: keep}); err != nil {
					return err
				}
				o.Detail = "destroyed"
				if keep {
					o.Detail += ", destination table kept"
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every job (of the job file, or of the catalog without -f)")
	c.Flags().BoolVar(&keep, "keep-table", false, "keep the destination table")
	c.Flags().BoolVar(&yes, "yes", false, "confirm --all")
	return c
}

// rangeText is a key range as [from, to), its bounds as key tuples.
func rangeText(r check.KeyRange) string {
	if r.NullKey {
		return "rows with a NULL key part"
	}
	bound := func(b []string, open string) string {
		if b == nil {
			return open
		}
		return "(" + strings.Join(b, ", ") + ")"
	}
	return fmt.Sprintf("[%s, %s): %d source, %d destination rows", bound(r.From, "-inf"), bound(r.To, "+inf"), r.SourceRows, r.DestRows)
}
