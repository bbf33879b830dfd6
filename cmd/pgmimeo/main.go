// Command pgmimeo is the operator command of pgmimeo: it sets up, lists,
// refreshes, validates, repairs and destroys replication jobs, runs them
// as a long-running worker, and checks them for nagios, over the same
// library a Go service imports.
//
//	pgmimeo plan    -f jobs.yaml      # what apply would change
//	pgmimeo apply   -f jobs.yaml      # make the declared jobs exist as declared
//	pgmimeo status  -f jobs.yaml      # every job: state, last success, last failure, next due
//	pgmimeo run     -f jobs.yaml      # the scheduler, until SIGTERM
//	pgmimeo check   -f jobs.yaml      # the nagios check of the job log
//
// The job file (see "pgmimeo help jobfile") declares the destination, the
// sources and the jobs; connection strings carry no password. pgx finds
// passwords where psql does: PGPASSWORD, a pgpass file (PGPASSFILE) or a
// service file (PGSERVICEFILE); a file may also name environment variables
// as ${NAME}. Without -f the destination comes from --dest or the PG*
// environment variables, and each job's source from the catalog.
//
// Exit codes: 0 done; 1 an operation failed; 2 bad usage or an invalid
// job file; 3 a declared change needs a rebuild (plan, apply); 4 validate
// or repair found the destination different from the source. check exits
// as the nagios plugin does: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
