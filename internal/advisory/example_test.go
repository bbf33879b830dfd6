package advisory_test

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/advisory"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// One session holds the lock; another cannot take it, but sees it held.
func ExampleLock() {
	ctx := context.Background()
	ex := pgtest.MustExample(ctx, 1)
	defer ex.Close()
	a, err := ex.Pools[0].Acquire(ctx)
	if err != nil {
		panic(err)
	}
	defer a.Release()
	b, err := ex.Pools[0].Acquire(ctx)
	if err != nil {
		panic(err)
	}
	defer b.Release()

	l := advisory.Lock{Class: 0x6578616d, Name: `"public"."orders"`}
	got, _ := l.Try(ctx, a)
	fmt.Println("first session takes it:", got)
	got, _ = l.Try(ctx, b)
	held, _ := l.Held(ctx, b)
	fmt.Println("second session takes it:", got, "- sees it held:", held)
	if err := l.Unlock(ctx, a); err != nil {
		panic(err)
	}
	got, _ = l.Try(ctx, b)
	fmt.Println("second session, once it is let go:", got)
	// Output:
	// first session takes it: true
	// second session takes it: false - sees it held: true
	// second session, once it is let go: true
}
