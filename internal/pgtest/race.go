package pgtest

import (
	"errors"
	"sync"
	"testing"
)

// RequireOneWinner runs setup n times at once and fails the test unless
// exactly one call succeeds and every other one fails with an error
// wrapping want (for example replication.ErrExists).
func RequireOneWinner(tb testing.TB, n int, want error, setup func() error) {
	tb.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = setup()
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, want):
			tb.Errorf("a concurrent setup failed with %v, want an error wrapping %v", err, want)
		}
	}
	if won != 1 {
		tb.Errorf("%d of %d concurrent setups succeeded, want exactly 1: %v", won, n, errs)
	}
}
