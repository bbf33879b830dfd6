package jobctx_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgmimeo/pgmimeo/internal/jobctx"
)

func TestPID(t *testing.T) {
	if got := jobctx.PID(context.Background()); got != 0 {
		t.Fatalf("empty context gave pid %d", got)
	}
	ctx := jobctx.WithPID(context.Background(), 4242)
	if got := jobctx.PID(context.WithoutCancel(ctx)); got != 4242 {
		t.Fatalf("got pid %d, want 4242 through WithoutCancel", got)
	}
}

func ExampleWithPID() {
	ctx := jobctx.WithPID(context.Background(), 123)
	fmt.Println(jobctx.PID(ctx))
	// Output: 123
}
