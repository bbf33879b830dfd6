package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/internal/version"
)

// exitWith ends the command with code, having printed what it had to
// (check's nagios codes).
type exitWith struct{ code int }

func (e *exitWith) Error() string { return fmt.Sprintf("exit %d", e.code) }

// execute runs the command line args and returns the exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	defer a.close()
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ew *exitWith
	if errors.As(err, &ew) {
		return ew.code
	}
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = &usageError{err.Error()}
	}
	if err != nil {
		fmt.Fprintln(stderr, "pgmimeo:", err)
	}
	return exitCode(err)
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "pgmimeo",
		Short: "Per-table replication between PostgreSQL databases: set up, run, check",
		Long: `pgmimeo sets up, runs and checks per-table replication jobs between
PostgreSQL databases, declared in a job file (see "pgmimeo help jobfile").

Connection strings carry no password: pgx finds it in PGPASSWORD, a pgpass
file (PGPASSFILE) or a service file, as psql does. Without -f, the
destination comes from --dest or the PG* environment variables.

Exit codes: 0 done; 1 an operation failed; 2 bad usage or an invalid job
file; 3 a declared change needs a rebuild (plan, apply); 4 validate or
repair found the destination different from the source. check exits as
the nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.`,
		Example: `  pgmimeo plan -f jobs.yaml
  pgmimeo apply -f jobs.yaml
  pgmimeo run -f jobs.yaml
  pgmimeo status --dest postgres://ops@db2/reporting --json`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelInfo
			}
			a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetVersionTemplate("pgmimeo {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	f := root.PersistentFlags()
	f.StringVarP(&a.file, "file", "f", os.Getenv("PGMIMEO_FILE"), "the job file (YAML; default $PGMIMEO_FILE)")
	f.StringVar(&a.destDSN, "dest", "", "destination connection string, without a password (default: the job file's, else the PG* variables)")
	f.StringVar(&a.catalog, "catalog", "", `schema of the job catalog (default: the job file's, else "mimeo")`)
	f.StringVar(&a.jobLog, "job-log", "", `schema of the job log (default: the job file's, else "jobmon")`)
	f.BoolVar(&a.noJobLog, "no-job-log", false, "log no job to the job log")
	f.BoolVar(&a.json, "json", false, "print JSON, for scripts")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "log progress to standard error")
	root.AddCommand(planCmd(a), applyCmd(a), listCmd(a), statusCmd(a),
		refreshCmd(a), repullCmd(a), validateCmd(a), repairCmd(a), destroyCmd(a),
		preflightCmd(a), runCmd(a), checkCmd(a), migrateCmd(a), versionCmd(), jobfileHelp())
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	root.SetHelpCommand(&cobra.Command{Use: "help [command]", Short: "Help about any command",
		Run: func(c *cobra.Command, args []string) {
			cmd, _, err := c.Root().Find(args)
			if cmd == nil || err != nil {
				cmd = c.Root()
			}
			_ = cmd.Help()
		}})
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  pgmimeo version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "pgmimeo", version.String())
			return nil
		},
	}
}
