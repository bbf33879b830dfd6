package jobmon_test

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

// A nightly job fails three nights running, which CheckJobStatus reports as
// CRITICAL, even though each night's work was rolled back; a successful
// night clears the alert.
func Example() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 1)
	defer dbs.Close()
	work := dbs.Pools[0]

	log, err := jobmon.Open(ctx, dbs.DSNs[0], nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()
	if err := log.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	night := func(fail bool) error {
		jobID, err := log.AddJob(ctx, "nightly load")
		if err != nil {
			return err
		}
		step, err := log.AddStep(ctx, jobID, "Load rows")
		if err != nil {
			return err
		}
		tx, err := work.Begin(ctx)
		if err != nil {
			return err
		}
		query := `SELECT 1`
		if fail {
			query = `SELECT 1/0`
		}
		if _, err := tx.Exec(ctx, query); err != nil {
			_ = tx.Rollback(ctx)
			_ = log.UpdateStep(ctx, step, jobmon.StatusCritical, err.Error())
			return log.FailJob(ctx, jobID, jobmon.LevelCritical)
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		if err := log.UpdateStep(ctx, step, jobmon.StatusOK, "Done"); err != nil {
			return err
		}
		return log.CloseJob(ctx, jobID)
	}
	show := func() {
		alerts, err := log.CheckJobStatus(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, a := range alerts {
			fmt.Printf("%d %s %q: %s\n", a.Code, a.Status, a.JobName, a.Text)
		}
	}

	for i := 0; i < 3; i++ {
		if err := night(true); err != nil {
			fmt.Println(err)
			return
		}
	}
	show()
	steps, err := log.ShowDetailByName(ctx, "nightly load", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(steps[0].Action, steps[0].Status, steps[0].Message)

	if err := night(false); err != nil {
		fmt.Println(err)
		return
	}
	show()
	// Output:
	// 3 FAILED_RUN "NIGHTLY LOAD": 3 failed run(s) in a row, the worst CRITICAL
	// Load rows CRITICAL ERROR: division by zero (SQLSTATE 22012)
	// 1 OK "": All jobs run successfully
}
