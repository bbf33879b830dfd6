package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/jobmon/nagios"
)

func checkCmd(a *app) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "check",
		Short: "The nagios check of the job log (as check_job_status)",
		Long: `check is the nagios check of the destination's job log, with the output
and exit codes of the check_job_status plugin: one status line (the
problem jobs, worst first, then performance data after a '|'), and exit
0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN (bad settings, database
unreachable, job log missing, timeout). Besides pg_jobmon's rules, a job
whose data is older than its lag_warning is LATE at WARNING, past its
lag_critical at CRITICAL, and each job's lag is in the performance data.
With -v, a line per problem job and the connection used (never its
password).`,
		Example: "  pgmimeo check -f jobs.yaml\n  pgmimeo check --dest postgres://nagios@db2/reporting --timeout 5s -v",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(false); err != nil {
				a.say("%s UNKNOWN - %s", nagios.Service, nagios.OneLine(err.Error()))
				return &exitWith{nagios.Unknown}
			}
			code, lines := nagios.Check(cmd.Context(), nagios.Config{DSN: a.destConnString(), Schema: a.jobLogSchema(),
				Timeout: timeout, Verbose: a.verbose, AppName: "pgmimeo check", Catalog: a.catalogSchema()})
			for _, l := range lines {
				a.say("%s", l)
			}
			return &exitWith{code}
		},
	}
	c.Flags().DurationVarP(&timeout, "timeout", "t", nagios.DefaultTimeout, "UNKNOWN when the check takes longer")
	return c
}
