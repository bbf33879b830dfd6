package jobmon_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
)

// BenchmarkStepPair measures one logged step (AddStep + UpdateStep, each a
// statement committed on the logger's open connection) against the
// baseline of one plain single-row INSERT through a pool of its own, on the
// same server in the same run, interleaved. ns/op is the step pair alone;
// insert-ns/op the baseline; x-insert their ratio.
func BenchmarkStepPair(b *testing.B) {
	tb := setup(b)
	ctx := context.Background()
	l := tb.log
	plain := pgtest.Pool(b, tb.DestDSN)
	pgtest.MustExec(b, plain, `CREATE TABLE plain_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)`)
	jobID, err := l.AddJob(ctx, "benchmark")
	if err != nil {
		b.Fatal(err)
	}
	pair := func() {
		step, err := l.AddStep(ctx, jobID, "step")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.UpdateStep(ctx, step, jobmon.StatusOK, "Rows: 1"); err != nil {
			b.Fatal(err)
		}
	}
	insert := func() {
		if _, err := plain.Exec(ctx, `INSERT INTO plain_insert (v) VALUES ($1)`, "step"); err != nil {
			b.Fatal(err)
		}
	}
	// Warm both paths up (connections, prepared statements).
	for i := 0; i < 100; i++ {
		pair()
		insert()
	}

	// Interleaved in small blocks, so that both see the same load on a
	// shared machine.
	const block = 50
	var pairTime, baseTime time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			insert()
		}
		t1 := time.Now()
		for i := 0; i < n; i++ {
			pair()
		}
		baseTime += t1.Sub(t0)
		pairTime += time.Since(t1)
	}
	b.StopTimer()
	pairNs := float64(pairTime.Nanoseconds()) / float64(b.N)
	baseNs := float64(baseTime.Nanoseconds()) / float64(b.N)
	b.ReportMetric(pairNs, "ns/op")
	b.ReportMetric(baseNs, "insert-ns/op")
	b.ReportMetric(pairNs/baseNs, "x-insert")
	b.ReportMetric(1e9/pairNs, "steps/s")
}
