package main

import (
	"context"
	"fmt"
	"os"
)

// The job file is checked whole before anything connects: every problem
// is named by its line, column and field, and the command exits 2.
func Example() {
	path := "example-jobs.yaml" // in the working directory
	_ = os.WriteFile(path, []byte(`sources:
  shop:
    dsn: postgres://repl@db1/shop
jobs:
  - kind: snapshot
    table: public.prices
    period: 5 minutes
  - kind: dml
    table: public.orders
    control: updated_at
`), 0o600)
	defer os.Remove(path)
	code := execute(context.Background(), []string{"plan", "-f", path}, os.Stdout, os.Stdout)
	fmt.Println("exit", code)
	// Output:
	// pgmimeo: example-jobs.yaml:7:13: jobs[0].period: want a duration such as 90s, 5m or 1h30m, not "5 minutes"
	// example-jobs.yaml:10:14: jobs[1].control: a dml job has no control (only inserter, updater jobs do)
	// exit 2
}
