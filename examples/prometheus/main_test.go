package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example's scrape shows each job's runs, rows and lag.
func TestScrape(t *testing.T) {
	b := pgtest.Setup(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), b.SourceDSN, b.DestDSN, "", &out))
	text := out.String()
	require.Contains(t, text, ": 200 OK")
	// Three refreshes of 100 changed orders each, and three full pulls of 100 prices.
	require.Regexp(t, regexp.MustCompile(`(?m)^pgmimeo_run_rows_total\{[^}]*pgmimeo_change="updated",pgmimeo_dest="public.metrics_orders",pgmimeo_kind="dml",pgmimeo_op="refresh"[^}]*\} 300$`), text)
	require.Regexp(t, regexp.MustCompile(`(?m)^pgmimeo_run_rows_total\{[^}]*pgmimeo_change="inserted",pgmimeo_dest="public.metrics_prices",pgmimeo_kind="snapshot",pgmimeo_op="refresh"[^}]*\} 300$`), text)
	require.Regexp(t, regexp.MustCompile(`(?m)^pgmimeo_run_duration_seconds_count\{[^}]*pgmimeo_dest="public.metrics_orders",pgmimeo_kind="dml",pgmimeo_op="refresh",pgmimeo_outcome="ok"[^}]*\} 3$`), text)
	require.Regexp(t, regexp.MustCompile(`(?m)^pgmimeo_job_lag_seconds\{[^}]*pgmimeo_dest="public.metrics_prices"[^}]*\} \d`), text)
}
