package replication

import (
	"errors"
	"testing"
)

// The judgement of a server's version, for the versions a test server
// cannot be: older and newer than the supported ones.
func TestJudgeVersion(t *testing.T) {
	orders := T("public", "orders")
	for num, ok := range map[int]bool{140011: false, 150000: true, 150008: true, 160004: true, 170002: true, 180000: false} {
		err := judgeVersion(num, "x.y", "source", orders)
		if ok != (err == nil) {
			t.Fatalf("%d: got %v", num, err)
		}
		if err != nil {
			var ve *VersionError
			if !errors.As(err, &ve) || !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("%d: %T %v", num, err, err)
			}
			const want = `source of "public"."orders" runs PostgreSQL x.y; pgmimeo supports PostgreSQL 15 to 17 as source and destination: PostgreSQL version not supported`
			if err.Error() != want {
				t.Fatalf("%d: %q", num, err.Error())
			}
		}
	}
}
