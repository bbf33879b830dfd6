package check_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// TestHealth: readiness answers 503 while a job is past its critical lag
// and 200 when it is back; liveness follows the database.
func TestHealth(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	cat := replication.NewCatalog("")
	require.NoError(t, cat.Migrate(ctx, b.Dest))
	dest := replication.T("public", "prices")
	job := (&replication.Options{Period: time.Hour, LagCritical: time.Second}).NewJob(replication.KindSnapshot, dest, dest, nil, nil)
	require.NoError(t, cat.CreateJob(ctx, b.Dest, job))
	srv := httptest.NewServer(check.Health(b.Dest, nil))
	defer srv.Close()
	get := func(path string) (int, check.HealthAnswer) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var a check.HealthAnswer
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
		return resp.StatusCode, a
	}
	code, a := get("/ready")
	require.Equal(t, http.StatusOK, code, "%+v", a)
	require.Equal(t, replication.LagUnknown, a.Jobs[0].Level, "never caught up: unknown, not failing")

	// The job caught up 3 seconds ago: past its critical lag of 1s.
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET synced_at = clock_timestamp() - interval '3 seconds', last_ok = now()`)
	code, a = get("/ready")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", a.Status)
	require.Contains(t, a.Error, `past their critical lag: "public"."prices"`)
	require.Equal(t, replication.LagCritical, a.Jobs[0].Level)
	require.InDelta(t, 3.0, *a.Jobs[0].LagSeconds, 0.5)
	require.Equal(t, 1.0, a.Jobs[0].CriticalSeconds)

	// Back: a refresh that caught up just now.
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET synced_at = clock_timestamp()`)
	code, a = get("/ready")
	require.Equal(t, http.StatusOK, code, "%+v", a)
	require.Equal(t, replication.LagOK, a.Jobs[0].Level)
	code, _ = get("/live")
	require.Equal(t, http.StatusOK, code)

	// A paused job is not a failure.
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET synced_at = clock_timestamp() - interval '1 hour', enabled = false`)
	code, _ = get("/ready")
	require.Equal(t, http.StatusOK, code)
}
