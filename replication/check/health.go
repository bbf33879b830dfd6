package check

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// HealthConfig configures Health.
type HealthConfig struct {
	// Catalog is the job catalog's schema. Default "": "mimeo".
	Catalog string
	// Tables restricts the readiness answer to the jobs of these
	// destination tables (a service's own). Default: every job.
	Tables []replication.Table
	// Timeout bounds each answer's database work. Default 0: 5 seconds.
	Timeout time.Duration
}

// HealthJob is one job in a health answer.
type HealthJob struct {
	Job  string `json:"job"`
	Kind string `json:"kind"`
	// Level is the job's lag against its thresholds (replication.Lag).
	Level replication.LagLevel `json:"level"`
	// LagSeconds is how old the destination's data may be (an upper
	// bound); nil when unknown.
	LagSeconds      *float64 `json:"lag_seconds"`
	WarningSeconds  float64  `json:"warning_seconds,omitempty"`
	CriticalSeconds float64  `json:"critical_seconds,omitempty"`
	Enabled         bool     `json:"enabled"`
	Failures        int      `json:"failures"`
}

// HealthAnswer is the JSON body of a health answer.
type HealthAnswer struct {
	// Status is "ok", or "unavailable" with Error set.
	Status string      `json:"status"`
	Error  string      `json:"error,omitempty"`
	Jobs   []HealthJob `json:"jobs,omitempty"`
}

// Health returns an http.Handler of the health of a destination's jobs,
// as JSON, for a service's or a worker's probes:
//
//   - a path ending in "/live" answers 200 while the destination database
//     answers, 503 when it does not;
//   - any other path (readiness, "/ready") answers 200 while no job is past
//     its critical lag (replication.Job.Lag) and the database answers, 503
//     otherwise; the body lists every job with its lag and thresholds.
//
// A paused job, or one whose lag is unknown, does not make it fail.
func Health(db replication.DB, cfg *HealthConfig) http.Handler {
	var c HealthConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	cat := replication.NewCatalog(c.Catalog)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), c.Timeout)
		defer cancel()
		answer := func(code int, a HealthAnswer) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(a)
		}
		if strings.HasSuffix(r.URL.Path, "/live") {
			if _, err := db.Exec(ctx, `SELECT 1`); err != nil {
				answer(http.StatusServiceUnavailable, HealthAnswer{Status: "unavailable", Error: "destination database: " + err.Error()})
				return
			}
			answer(http.StatusOK, HealthAnswer{Status: "ok"})
			return
		}
		jobs, err := cat.Jobs(ctx, db, nil)
		if err != nil {
			answer(http.StatusServiceUnavailable, HealthAnswer{Status: "unavailable", Error: "read the job catalog: " + err.Error()})
			return
		}
		a := HealthAnswer{Status: "ok"}
		var late []string
		for _, j := range jobs {
			if len(c.Tables) > 0 && !slices.Contains(c.Tables, j.Dest) {
				continue
			}
			lag := j.Lag()
			hj := HealthJob{Job: j.Dest.String(), Kind: string(j.Kind), Level: lag.Level, Enabled: j.Enabled, Failures: j.Failures,
				WarningSeconds: lag.Warning.Seconds(), CriticalSeconds: lag.Critical.Seconds()}
			if lag.Age != nil {
				secs := lag.Age.Seconds()
				hj.LagSeconds = &secs
			}
			if lag.Level == replication.LagCritical {
				late = append(late, j.Dest.String())
			}
			a.Jobs = append(a.Jobs, hj)
		}
		if len(late) > 0 {
			a.Status, a.Error = "unavailable", "past their critical lag: "+strings.Join(late, ", ")
			answer(http.StatusServiceUnavailable, a)
			return
		}
		answer(http.StatusOK, a)
	})
}
