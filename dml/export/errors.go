package export

import (
	"errors"
	"fmt"
)

// Sentinel errors of batches and acknowledgements, wrapped in a *BatchError.
var (
	// ErrCorrupt: a batch's manifest is unreadable, a file is missing, or a
	// file's size or SHA-256 checksum differs from the manifest.
	ErrCorrupt = errors.New("batch is corrupt")
	// ErrOutOfOrder: the batch is older than the one last applied on the
	// destination, or it builds on a batch the destination has not applied.
	ErrOutOfOrder = errors.New("batch is out of order")
	// ErrWrongStream: the batch or acknowledgement is for another table,
	// source or target.
	ErrWrongStream = errors.New("batch belongs to another table or target")
	// ErrUnknownBatch: an acknowledgement names a batch that was not
	// exported, or not with that manifest.
	ErrUnknownBatch = errors.New("batch was not exported")
)

// BatchError is an error about one batch of files.
type BatchError struct {
	// Dir is the batch's directory, or the acknowledgement file.
	Dir string
	// Batch is the batch number, when known.
	Batch int64
	// Err is the cause: one of the sentinels above.
	Err error
	// Detail says what was found; Fix says what to do about it.
	Detail, Fix string
}

// Error implements error.
func (e *BatchError) Error() string {
	msg := fmt.Sprintf("batch %d (%s): %v", e.Batch, e.Dir, e.Err)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }
