package snapshot_test

import (
	"context"
	"strings"
	"sync"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// memLog is a replication.JobLog that keeps the jobs in memory, for
// checking what the replicators log.
type memLog struct {
	mu    sync.Mutex
	jobs  []*memJob
	steps map[int64]*memStep
}

type memJob struct {
	name   string
	status string
	steps  []*memStep
}

type memStep struct {
	action, status, message string
}

func (l *memLog) AddJob(_ context.Context, name string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs = append(l.jobs, &memJob{name: name, status: "RUNNING"})
	return int64(len(l.jobs)), nil
}

func (l *memLog) AddStep(_ context.Context, jobID int64, action string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.steps == nil {
		l.steps = map[int64]*memStep{}
	}
	s := &memStep{action: action, status: "PENDING"}
	j := l.jobs[jobID-1]
	j.steps = append(j.steps, s)
	id := int64(len(l.steps) + 1)
	l.steps[id] = s
	return id, nil
}

func (l *memLog) UpdateStep(_ context.Context, stepID int64, status, message string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps[stepID].status, l.steps[stepID].message = status, message
	return nil
}

func (l *memLog) CloseJob(_ context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs[jobID-1].status = "OK"
	return nil
}

func (l *memLog) FailJob(_ context.Context, jobID int64, level int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs[jobID-1].status = map[int]string{replication.LevelWarning: "WARNING", replication.LevelCritical: "CRITICAL"}[level]
	return nil
}

// summary gives one line per job: name, final status, and each step's
// action and status.
func (l *memLog) summary() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, j := range l.jobs {
		var steps []string
		for _, s := range j.steps {
			steps = append(steps, s.action+": "+s.status)
		}
		out = append(out, j.name+" ["+j.status+"] "+strings.Join(steps, "; "))
	}
	return out
}

// messages returns every step message of the last job.
func (l *memLog) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.jobs[len(l.jobs)-1].steps {
		out = append(out, s.message)
	}
	return out
}

func snapshotConfig(log replication.JobLog) *snapshot.Config {
	return &snapshot.Config{Options: replication.Options{JobLog: log}}
}
