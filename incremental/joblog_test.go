package incremental_test

import (
	"context"
	"sync"

	"github.com/pgmimeo/pgmimeo/replication"
)

// recordingLog is a replication.JobLog that keeps what it is told, so that
// tests can check what a run logs. (The database side of every test is
// real; only the job-log sink is a double.)
type recordingLog struct {
	mu    sync.Mutex
	jobs  []*loggedJob
	steps map[int64]*loggedStep
}

type loggedJob struct {
	name   string
	steps  []*loggedStep
	closed bool
	// level is 1 when closed OK, else the FailJob level.
	level int
}

type loggedStep struct {
	action, status, message string
}

var _ replication.JobLog = (*recordingLog)(nil)

func (l *recordingLog) AddJob(_ context.Context, name string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs = append(l.jobs, &loggedJob{name: name})
	return int64(len(l.jobs)), nil
}

func (l *recordingLog) AddStep(_ context.Context, jobID int64, action string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.steps == nil {
		l.steps = map[int64]*loggedStep{}
	}
	s := &loggedStep{action: action}
	j := l.jobs[jobID-1]
	j.steps = append(j.steps, s)
	id := int64(len(l.steps) + 1)
	l.steps[id] = s
	return id, nil
}

func (l *recordingLog) UpdateStep(_ context.Context, stepID int64, status, message string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.steps[stepID]
	s.status, s.message = status, message
	return nil
}

func (l *recordingLog) CloseJob(_ context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs[jobID-1].closed, l.jobs[jobID-1].level = true, replication.LevelOK
	return nil
}

func (l *recordingLog) FailJob(_ context.Context, jobID int64, level int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs[jobID-1].closed, l.jobs[jobID-1].level = true, level
	return nil
}

// last returns the last job logged.
func (l *recordingLog) last() *loggedJob {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.jobs) == 0 {
		return nil
	}
	return l.jobs[len(l.jobs)-1]
}

// stepWith returns the first step of j whose status is status, or nil.
func (j *loggedJob) stepWith(status string) *loggedStep {
	for _, s := range j.steps {
		if s.status == status {
			return s
		}
	}
	return nil
}
