package nagios_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/jobmon/nagios"
)

func ExampleCheck() {
	code, lines := nagios.Check(context.Background(), nagios.Config{DSN: "host=db1 sslmode=sometimes"})
	fmt.Println(code, strings.HasPrefix(lines[0], "JOBMON UNKNOWN - bad connection settings"))
	// Output: 3 true
}
