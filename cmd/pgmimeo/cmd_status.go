package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/replication"
)

// jobStatus is one line of list and status.
type jobStatus struct {
	Job         string     `json:"job"`
	Kind        string     `json:"kind"`
	Source      string     `json:"source"`
	SourceTable string     `json:"source_table"`
	Period      string     `json:"period"`
	State       string     `json:"state"`
	LastOK      *time.Time `json:"last_ok"`
	LastFailure *time.Time `json:"last_failure"`
	Failures    int        `json:"failures"`
	LastError   string     `json:"last_error,omitempty"`
	NextDue     *time.Time `json:"next_due"`
}

// The states of a job in status.
const (
	stateFresh   = "fresh"   // last success within its staleness bound
	stateStale   = "stale"   // no success for longer than that
	stateFailing = "failing" // its last run failed
	statePaused  = "paused"  // workers leave it alone
	stateNever   = "never"   // no run has succeeded yet
	stateManual  = "manual"  // no period: refreshed only when asked
)

// staleAfter is how old a job's last success may be while it is fresh:
// two periods, and at least a period and a minute.
func staleAfter(period time.Duration) time.Duration { return max(2*period, period+time.Minute) }

// state judges job j at now.
func state(j *replication.Job, now time.Time) string {
	switch {
	case !j.Enabled:
		return statePaused
	case j.Failures > 0:
		return stateFailing
	case j.LastOK == nil:
		return stateNever
	case j.Period == 0:
		return stateManual
	case now.Sub(*j.LastOK) > staleAfter(j.Period):
		return stateStale
	}
	return stateFresh
}

func statusOf(j *replication.Job, now time.Time) jobStatus {
	s := jobStatus{Job: j.Dest.String(), Kind: fileKind(j.Kind), Source: j.SourceName, SourceTable: j.SourceTable.String(),
		State: state(j, now), LastOK: j.LastOK, Failures: j.Failures, LastError: j.LastError}
	if j.Period > 0 {
		s.Period = j.Period.String()
		due := j.NextRun
		if due == nil && j.LastRun != nil {
			t := j.LastRun.Add(j.Period)
			due = &t
		}
		s.NextDue = due
	}
	if j.Failures > 0 {
		s.LastFailure = j.LastRun
	}
	return s
}

func listCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the catalog's jobs",
		Long:    "list prints every job of the destination's catalog: its destination, kind, source and period.",
		Example: "  pgmimeo list --dest postgres://ops@db2/reporting\n  pgmimeo list -f jobs.yaml --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := a.selectJobs(cmd.Context(), nil, true)
			if err != nil {
				return err
			}
			var out []jobStatus
			var rows [][]string
			now := time.Now()
			for _, j := range jobs {
				s := statusOf(j, now)
				out = append(out, s)
				rows = append(rows, []string{s.Job, s.Kind, s.Source + ": " + s.SourceTable, or(s.Period, "-"), enabled(j.Enabled)})
			}
			return a.print(out, []string{"JOB", "KIND", "SOURCE", "PERIOD", "ENABLED"}, rows)
		},
	}
}

func statusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status [dest-table…]",
		Short: "Show each job's state, last success, last failure and next run",
		Long: `status prints, for the named jobs or every job (of the job file, or of
the catalog without -f): its state, when it last succeeded, when it last
failed and why, and when a worker runs it next. A job is fresh while its
last success is at most two periods old (and at least a period and a
minute), stale beyond; failing when its last run failed; paused, manual
(no period) or never (no run has succeeded yet).`,
		Example: "  pgmimeo status -f jobs.yaml\n  pgmimeo status public.orders --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, err := a.selectJobs(cmd.Context(), args, len(args) == 0)
			if err != nil {
				return err
			}
			var out []jobStatus
			var rows [][]string
			now := time.Now()
			for _, j := range jobs {
				s := statusOf(j, now)
				out = append(out, s)
				failure := ""
				if s.LastFailure != nil {
					failure = fmt.Sprintf("%s: %s", since(s.LastFailure, now), s.LastError)
				}
				next := "-"
				if s.NextDue != nil {
					next = s.NextDue.Local().Format(time.DateTime)
				}
				rows = append(rows, []string{s.Job, s.Kind, s.State, or(since(s.LastOK, now), "never"), or(failure, "-"), next})
			}
			return a.print(out, []string{"JOB", "KIND", "STATE", "LAST SUCCESS", "LAST FAILURE", "NEXT DUE"}, rows)
		},
	}
}

func or(s, instead string) string {
	if s == "" {
		return instead
	}
	return s
}

func enabled(b bool) string {
	if b {
		return "yes"
	}
	return "paused"
}
