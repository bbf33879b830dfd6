package dsn_test

import (
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
)

func ExampleRedact() {
	fmt.Println(dsn.Redact("host=db user=worker password=work sslpassword=keypass"))
	stored, _ := dsn.Strip("postgres://worker:work@db/app?sslmode=verify-full")
	fmt.Println(stored)
	// Output:
	// host=db user=worker password=xxxxx sslpassword=xxxxx
	// postgres://worker@db/app?sslmode=verify-full
}
