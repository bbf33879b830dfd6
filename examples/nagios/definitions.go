package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// commandCfg is the Nagios command: $ARG1$ is the connection string
// (without a password: the nagios user's ~/.pgpass has it), $ARG2$ the job
// log schema.
const commandCfg = `# pgmimeo: the check_job_status plugin (jobmon/cmd/check_job_status),
# installed in $USER1$. The password comes from the nagios user's ~/.pgpass.
define command {
    command_name    check_pgmimeo_jobs
    command_line    $USER1$/check_job_status --dsn '$ARG1$' --schema '$ARG2$' --timeout 30s
}
`

// serviceCfg is one service per destination database.
const serviceCfg = `# pgmimeo: the jobs logged in database %[2]s on %[1]s.
define service {
    use                     generic-service
    host_name               %[1]s
    service_description     pgmimeo jobs in %[2]s
    check_command           check_pgmimeo_jobs!%[3]s!%[4]s
    check_interval          5
    retry_interval          1
    max_check_attempts      3
    notes                   Alerts: FAILED_RUN (failures in a row), MISSING (no successful run within the job's threshold), RUNNING/BLOCKED (a run too long or waiting on a lock). See jobmon.job_check_config.
}
`

// writeDefinitions writes (or prints, without dir) the command and service
// definitions for checking the job log of dest through checkDSN.
func writeDefinitions(dir, checkDSN, schema string, dest *pgxpool.Pool, stdout io.Writer) error {
	cc := dest.Config().ConnConfig
	// Nagios splits check_command arguments at '!'.
	arg := strings.ReplaceAll(checkDSN, "!", `\!`)
	service := fmt.Sprintf(serviceCfg, cc.Host, cc.Database, arg, schema)
	files := []struct{ name, text string }{{"pgmimeo-commands.cfg", commandCfg}, {"pgmimeo-services.cfg", service}}
	if dir == "" {
		fmt.Fprintln(stdout, "\nNagios object definitions:")
		for _, f := range files {
			fmt.Fprintf(stdout, "\n# ---- %s ----\n%s", f.name, f.text)
		}
		return nil
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, []byte(f.text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s.\n", path)
	}
	return nil
}
