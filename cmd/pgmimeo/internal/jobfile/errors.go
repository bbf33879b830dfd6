package jobfile

import "fmt"

// Error is a problem of the job file, at a line and column (0 when the
// problem has no place, such as a missing section).
type Error struct {
	Path         string
	Line, Column int
	// Field is the field's path, as "jobs[2].kind"; "" for a syntax error.
	Field   string
	Problem string
}

// Error implements error: "jobs.yaml:12:5: jobs[2].kind: …".
func (e *Error) Error() string {
	at := e.Path
	if at == "" {
		at = "job file"
	}
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d:%d", at, e.Line, e.Column)
	}
	if e.Field == "" {
		return at + ": " + e.Problem
	}
	return at + ": " + e.Field + ": " + e.Problem
}
