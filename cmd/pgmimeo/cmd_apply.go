package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/replication"
)

// planned is what plan found, or apply did, for one job.
type planned struct {
	Job     string   `json:"job"`
	Kind    string   `json:"kind"`
	Line    int      `json:"line,omitempty"`
	Action  string   `json:"action"` // create, change, none, rebuild, undeclared, error
	Changes []string `json:"changes,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func planCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "Say what apply would change, changing nothing",
		Long: `plan compares every job of the job file with the catalog and says what
apply would do: create it, change settings in place (period, paused, batch
limit, lock wait, job logging, and each kind's refresh-time settings), or
nothing; a change that needs a rebuild (another key, column filter,
condition or capture) is named with the way to rebuild. Jobs of the
catalog that the file does not declare are listed and left alone.
It exits 3 when a declared change needs a rebuild.`,
		Example: "  pgmimeo plan -f jobs.yaml\n  pgmimeo plan -f jobs.yaml --json",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.apply(cmd, false) },
	}
}

func applyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Make the job file's jobs exist as declared",
		Long: `apply makes every job of the job file exist as declared: a missing job is
set up (its destination made and pulled, its source objects made); a job
whose in-place settings differ is changed in place; an unchanged job is left
untouched, writing and logging nothing, so apply can run at every deploy.
A job whose declared change needs a rebuild is refused with the way to
rebuild it (exit 3) while the other jobs are applied. Jobs of the catalog
that the file does not declare are left alone: destroy them by name.`,
		Example: "  pgmimeo apply -f jobs.yaml",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.apply(cmd, true) },
	}
}

// apply plans (do false) or applies the file's jobs.
func (a *app) apply(cmd *cobra.Command, do bool) error {
	ctx := cmd.Context()
	if err := a.load(true); err != nil {
		return err
	}
	dest, err := a.destination(ctx)
	if err != nil {
		return err
	}
	var out []planned
	var failed, rebuild error
	declaredDests := map[replication.Table]bool{}
	for i := range a.jf.Jobs {
		j := &a.jf.Jobs[i]
		t, _ := j.DestTable()
		declaredDests[t] = true
		p := planned{Job: t.String(), Kind: j.Kind, Line: j.Line}
		got, err := a.ensureOne(cmd, j, do)
		switch {
		case errors.Is(err, replication.ErrRebuild):
			p.Action, p.Error = "rebuild", err.Error()
			rebuild = err
		case err != nil:
			p.Action, p.Error = "error", err.Error()
			failed = fmt.Errorf("job %s (line %d): %w", t, j.Line, err)
		case got.Created:
			p.Action = "create"
		case len(got.Changed) > 0:
			p.Action, p.Changes = "change", got.Changed
		default:
			p.Action = "none"
		}
		out = append(out, p)
		if do && !a.json {
			a.say("%s", p.text(do))
		}
	}
	// What the catalog holds besides: left alone, listed.
	if exists, err := a.cat().Exists(ctx, dest); err != nil {
		return err
	} else if exists {
		jobs, err := a.cat().Jobs(ctx, dest, nil)
		if err != nil {
			return err
		}
		for _, job := range jobs {
			if !declaredDests[job.Dest] {
				out = append(out, planned{Job: job.Dest.String(), Kind: string(job.Kind), Action: "undeclared"})
			}
		}
	}
	if a.json {
		if err := a.print(out, nil, nil); err != nil {
			return err
		}
	} else {
		changes := 0
		for _, p := range out {
			if !do || p.Action == "undeclared" {
				a.say("%s", p.text(do))
			}
			if p.Action != "none" && p.Action != "undeclared" {
				changes++
			}
		}
		if changes == 0 {
			a.say("nothing to do: every job is as declared")
		}
	}
	if failed != nil {
		return failed
	}
	return rebuild
}

// ensureOne plans or ensures job j.
func (a *app) ensureOne(cmd *cobra.Command, j *jobfile.Job, do bool) (replication.Ensured, error) {
	ctx := cmd.Context()
	if !do {
		d, err := a.declare(ctx, j, nil, nil)
		if err != nil {
			return replication.Ensured{}, err
		}
		return d.Plan(ctx)
	}
	log, err := a.jobLogger(ctx)
	if err != nil {
		return replication.Ensured{}, err
	}
	var p *progress
	if j.Kind == jobfile.KindSnapshot || j.Kind == jobfile.KindTable {
		src, err := a.source(ctx, j.Source)
		if err != nil {
			return replication.Ensured{}, err
		}
		t, _ := j.SourceTable()
		p = a.progressFor(ctx, src, "pull "+t.String(), t)
	}
	d, err := a.declare(ctx, j, log, p.callback())
	if err != nil {
		return replication.Ensured{}, err
	}
	got, err := d.Ensure(ctx)
	p.finish()
	return got, err
}

// text is the line plan or apply prints for p.
func (p planned) text(done bool) string {
	verb := map[string][2]string{
		"create":     {"would create", "created"},
		"change":     {"would change", "changed"},
		"none":       {"unchanged", "unchanged"},
		"rebuild":    {"needs a rebuild", "needs a rebuild"},
		"undeclared": {"not in the file (left alone)", "not in the file (left alone)"},
		"error":      {"failed", "failed"},
	}[p.Action]
	v := verb[0]
	if done {
		v = verb[1]
	}
	s := fmt.Sprintf("%s (%s): %s", p.Job, p.Kind, v)
	if len(p.Changes) > 0 {
		s += " " + strings.Join(p.Changes, ", ")
	}
	if p.Error != "" {
		s += ": " + p.Error
	}
	return s
}
