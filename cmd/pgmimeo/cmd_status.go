package main

import (
	"context"
	"fmt"
	"strings"
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
	// LagSeconds is how old the destination's data may be (an upper
	// bound), null when unknown; LagLevel judges it against the job's
	// thresholds.
	LagSeconds *float64   `json:"lag_seconds"`
	LagLevel   string     `json:"lag_level"`
	SyncedAt   *time.Time `json:"synced_at"`
	// Detail is what the job's kind adds (status --detail).
	Detail *replication.LagDetail `json:"detail,omitempty"`
}

// The states of a job in status.
const (
	stateFresh   = "fresh"   // its lag is within its warning threshold
	stateLate    = "late"    // past its warning threshold
	stateStale   = "stale"   // past its critical threshold
	stateFailing = "failing" // its last run failed
	statePaused  = "paused"  // workers leave it alone
	stateNever   = "never"   // no run has succeeded yet
	stateManual  = "manual"  // no period and no lag threshold: refreshed only when asked
	stateUnknown = "unknown" // its lag is unknown (it has not caught up since it was set up)
)

// state judges job j.
func state(j *replication.Job) string {
	switch {
	case !j.Enabled:
		return statePaused
	case j.Failures > 0:
		return stateFailing
	case j.LastOK == nil:
		return stateNever
	}
	switch j.Lag().Level {
	case replication.LagOK:
		return stateFresh
	case replication.LagWarning:
		return stateLate
	case replication.LagCritical:
		return stateStale
	}
	if j.Age != nil {
		return stateManual
	}
	return stateUnknown
}

func statusOf(j *replication.Job) jobStatus {
	s := jobStatus{Job: j.Dest.String(), Kind: fileKind(j.Kind), Source: j.SourceName, SourceTable: j.SourceTable.String(),
		State: state(j), LastOK: j.LastOK, Failures: j.Failures, LastError: j.LastError,
		LagLevel: string(j.Lag().Level), SyncedAt: j.SyncedAt}
	if j.Age != nil {
		secs := j.Age.Seconds()
		s.LagSeconds = &secs
	}
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
			for _, j := range jobs {
				s := statusOf(j)
				out = append(out, s)
				rows = append(rows, []string{s.Job, s.Kind, s.Source + ": " + s.SourceTable, or(s.Period, "-"), enabled(j.Enabled)})
			}
			return a.print(out, []string{"JOB", "KIND", "SOURCE", "PERIOD", "ENABLED"}, rows)
		},
	}
}

func statusCmd(a *app) *cobra.Command {
	var detail bool
	c := &cobra.Command{
		Use:   "status [dest-table…]",
		Short: "Show each job's state, lag, last success, last failure and next run",
		Long: `status prints, for the named jobs or every job (of the job file, or of
the catalog without -f): its state; its lag, how old the destination's data
may be (an upper bound: the time since the moment before which the
destination is known to hold every source change); when it last succeeded
(every successful refresh counts, also one with nothing to apply); when
it last failed and why; and when a worker runs it next.

States: fresh (lag within lag_warning), late (past it), stale (past
lag_critical; by default two and four periods, on top of a time-based
incremental job's boundary), failing (its last run
failed), paused, never (no run has succeeded yet), manual (no period and no
threshold), unknown (it has not caught up since it was set up).`,
		Example: "  pgmimeo status -f jobs.yaml\n  pgmimeo status public.orders --json\n  pgmimeo status -f jobs.yaml --detail",
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, err := a.selectJobs(cmd.Context(), args, len(args) == 0)
			if err != nil {
				return err
			}
			var out []jobStatus
			var rows [][]string
			now := time.Now()
			for _, j := range jobs {
				s := statusOf(j)
				more := ""
				if detail {
					if s.Detail, more, err = a.lagDetail(cmd.Context(), j); err != nil {
						return err
					}
				}
				out = append(out, s)
				failure := ""
				if s.LastFailure != nil {
					failure = fmt.Sprintf("%s: %s", since(s.LastFailure, now), s.LastError)
				}
				next := "-"
				if s.NextDue != nil {
					next = s.NextDue.Local().Format(time.DateTime)
				}
				lag := "unknown"
				if s.LagSeconds != nil {
					lag = "≤ " + time.Duration(*s.LagSeconds*float64(time.Second)).Round(time.Second).String()
				}
				row := []string{s.Job, s.Kind, s.State, lag, or(since(s.LastOK, now), "never"), or(failure, "-"), next}
				if detail {
					row = append(row, or(more, "-"))
				}
				rows = append(rows, row)
			}
			header := []string{"JOB", "KIND", "STATE", "LAG", "LAST SUCCESS", "LAST FAILURE", "NEXT DUE"}
			if detail {
				header = append(header, "DETAIL")
			}
			return a.print(out, header, rows)
		},
	}
	c.Flags().BoolVar(&detail, "detail", false, "also read from each source what the kind adds: queued changes, slot WAL, rows and time behind, changed statistics")
	return c
}

// lagDetail reads what job j's kind adds to its lag, and says it in words.
func (a *app) lagDetail(ctx context.Context, j *replication.Job) (*replication.LagDetail, string, error) {
	r, _, err := a.openJobLogged(ctx, j, nil, false)
	if err != nil {
		return nil, "", err
	}
	lr, ok := r.(replication.LagReporter)
	if !ok {
		return nil, "", nil
	}
	d, err := lr.LagDetail(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("job %s: %w", j.Dest, err)
	}
	var parts []string
	if d.Backlog != nil {
		parts = append(parts, fmt.Sprintf("%d queued", *d.Backlog))
	}
	if d.RetainedWAL != nil {
		parts = append(parts, "slot retains "+size(*d.RetainedWAL))
	}
	if d.UnconfirmedWAL != nil {
		parts = append(parts, size(*d.UnconfirmedWAL)+" unconfirmed")
	}
	if d.RowsBehind != nil {
		parts = append(parts, fmt.Sprintf("%d rows behind", *d.RowsBehind))
	}
	if d.TimeBehind != nil {
		parts = append(parts, d.TimeBehind.Round(time.Second).String()+" behind")
	}
	if d.SourceChanged != nil {
		parts = append(parts, map[bool]string{true: "source changed", false: "source unchanged"}[*d.SourceChanged])
	}
	return &d, strings.Join(parts, ", "), nil
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

// since is how long ago t was, rounded for people; "" for nil.
func since(t *time.Time, now time.Time) string {
	if t == nil {
		return ""
	}
	return now.Sub(*t).Round(time.Second).String() + " ago"
}
