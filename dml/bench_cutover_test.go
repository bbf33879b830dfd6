package dml_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

// BenchmarkCutover measures the writers' pause of a Cutover of a
// 1,000,000-row pgbench_accounts under a load of about 1,000 single-row
// updates a second (four writers), with the whole-table checksum and
// without it (SkipChecksum), taking turns; between cutovers the load goes
// on and a refresh catches up. Reported: the median and the longest pause
// of each, and the longest a writer's statement waited.
func BenchmarkCutover(b *testing.B) {
	const rows = 1000000
	ctx := context.Background()
	bd := pgtest.Setup(b)
	makeAccounts(b, bd, rows)
	r, err := dml.New(bd.Source, bd.Dest, pgbenchAccounts, &dml.Config{})
	require.NoError(b, err)
	require.NoError(b, r.Setup(ctx))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var longest time.Duration
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, bd.SourceDSN)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close(ctx)
			tick := time.NewTicker(4 * time.Millisecond) // 250 a second each
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				start := time.Now()
				if _, err := conn.Exec(ctx, `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $1`, (i*7919+w*250000)%rows+1); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				longest = max(longest, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	var full, quick []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, skip := range []bool{i%2 == 0, i%2 == 1} {
			time.Sleep(500 * time.Millisecond)
			_, err := r.Refresh(ctx)
			require.NoError(b, err)
			res, err := r.Cutover(ctx, &dml.CutoverConfig{SkipChecksum: skip, LockTimeout: 10 * time.Second})
			require.NoError(b, err)
			if skip {
				quick = append(quick, res.Pause)
			} else {
				require.True(b, res.Checksum.Match)
				full = append(full, res.Pause)
			}
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
	b.ReportMetric(float64(median(full).Milliseconds()), "pause_median_ms")
	b.ReportMetric(float64(slices.Max(full).Milliseconds()), "pause_max_ms")
	b.ReportMetric(float64(median(quick).Milliseconds()), "pause_nochecksum_median_ms")
	b.ReportMetric(float64(slices.Max(quick).Milliseconds()), "pause_nochecksum_max_ms")
	mu.Lock()
	b.ReportMetric(float64(longest.Milliseconds()), "writer_wait_max_ms")
	mu.Unlock()
}
