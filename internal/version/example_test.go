package version_test

import (
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/version"
)

func ExampleString() {
	version.Version = "v1.2.3"
	defer func() { version.Version = "" }()
	fmt.Println(strings.Fields(version.String())[0])
	// Output: v1.2.3
}
