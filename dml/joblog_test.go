package dml_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// memLog is a replication.JobLog that keeps jobs in memory.
type memLog struct {
	mu    sync.Mutex
	jobs  []string
	steps map[int64][]string
	ends  []string
}

func (m *memLog) AddJob(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = append(m.jobs, name)
	return int64(len(m.jobs)), nil
}

func (m *memLog) AddStep(_ context.Context, job int64, action string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.steps == nil {
		m.steps = map[int64][]string{}
	}
	m.steps[job] = append(m.steps[job], action)
	return job*1000 + int64(len(m.steps[job])), nil
}

func (m *memLog) UpdateStep(_ context.Context, step int64, status, msg string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	job, i := step/1000, step%1000-1
	m.steps[job][i] += " -> " + status + ": " + msg
	return nil
}

func (m *memLog) CloseJob(_ context.Context, job int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ends = append(m.ends, m.jobs[job-1]+" OK")
	return nil
}

func (m *memLog) FailJob(_ context.Context, job int64, level int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ends = append(m.ends, m.jobs[job-1]+map[int]string{2: " WARNING", 3: " CRITICAL"}[level])
	return nil
}

func (m *memLog) closed() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ends...)
}

func TestJobLogAndCatalogState(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o', g, NULL, NULL, NULL FROM generate_series(1, 10) g`)
	log := &memLog{}
	r := newDML(t, b, accounts, &dml.Config{Options: replication.Options{JobLog: log, Dest: replication.T("public", "copy")}})
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 0`)
	refresh(t, r)
	require.Equal(t, []string{"DML Maker: public.accounts OK", "Refresh DML: public.copy OK"}, log.closed())
	require.Contains(t, fmt.Sprint(log.steps[2]), "Applied 10 queue entries (10 keys) in 1 chunks: 0 inserted, 10 updated, 0 deleted")

	// The catalog holds the job, its options and the queue position,
	// written with the rows.
	var kind, cfg, state string
	var lastOK bool
	require.NoError(t, b.Dest.QueryRow(ctx, `SELECT kind, config::text, state::text, last_ok IS NOT NULL FROM mimeo.jobs WHERE dest_table = 'copy'`).
		Scan(&kind, &cfg, &state, &lastOK))
	require.Equal(t, "dml", kind)
	require.True(t, lastOK)
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(cfg), &c))
	require.Equal(t, []any{"id"}, c["key"])
	require.Equal(t, "mimeo_queue", c["queue_schema"])
	require.JSONEq(t, `{"queue": {}}`, state, "drained and truncated")

	// A failing refresh is logged CRITICAL and counted in the catalog.
	pgtest.MustExec(t, b.Dest, `ALTER TABLE copy RENAME TO moved`)
	pgtest.MustExec(t, b.Source, `UPDATE accounts SET balance = 1`)
	_, err := r.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	require.Equal(t, "Refresh DML: public.copy CRITICAL", log.closed()[2])
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Dest, `SELECT failures FROM mimeo.jobs`))
	pgtest.MustExec(t, b.Dest, `ALTER TABLE moved RENAME TO copy`)
	refresh(t, r)
	require.Equal(t, []string{"(0)"}, pgtest.Rows(t, b.Dest, `SELECT failures FROM mimeo.jobs`))
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM copy`)
}
