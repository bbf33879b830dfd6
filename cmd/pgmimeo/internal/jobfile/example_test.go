package jobfile_test

import (
	"fmt"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
)

func ExampleParse() {
	_, err := jobfile.Parse([]byte(`sources:
  shop:
    dsn: postgres://repl@db1/shop
jobs:
  - kind: snapshot
    table: public.prices
    period: 5 minutes
`), func(string) (string, bool) { return "", false })
	fmt.Println(err)
	// Output: job file:7:13: jobs[0].period: want a duration such as 90s, 5m or 1h30m, not "5 minutes"
}
