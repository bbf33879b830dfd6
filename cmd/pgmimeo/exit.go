package main

import (
	"errors"
	"fmt"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
	"github.com/pgmimeo/pgmimeo/replication"
)

// The exit codes (the package documentation lists them).
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitRebuild   = 3
	exitDifferent = 4
)

// usageError is bad usage of the command: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errDifferent is what validate and repair return when the destination
// differs from the source (after what they did).
var errDifferent = errors.New("the destination differs from the source")

// exitCode maps an error to the command's exit code.
func exitCode(err error) int {
	var ue *usageError
	var fe *jobfile.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &fe):
		return exitUsage
	case errors.Is(err, replication.ErrRebuild):
		return exitRebuild
	case errors.Is(err, errDifferent):
		return exitDifferent
	}
	return exitFailed
}
