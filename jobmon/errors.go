package jobmon

import (
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrSchemaMissing: the job log schema, or one of its tables or
	// functions, does not exist in the database. Logger.Migrate creates it.
	ErrSchemaMissing = errors.New("job log schema is missing")
	// ErrJobNotFound: no job has the given id.
	ErrJobNotFound = errors.New("job not found")
	// ErrStepNotFound: no step has the given id.
	ErrStepNotFound = errors.New("step not found")
	// ErrJobEnded: the job has already ended, so it cannot be cancelled.
	ErrJobEnded = errors.New("job has already ended")
	// ErrJobRunning: SQLJob found another run of the same job in progress.
	ErrJobRunning = errors.New("another run of this job is in progress")
	// ErrUnknownLevel: the alert level has no row in job_status_text.
	ErrUnknownLevel = errors.New("alert level not in job_status_text")
	// ErrBadConfig: a Config or CheckConfig field has a value that cannot work.
	ErrBadConfig = errors.New("invalid configuration")
)

// ConfigError is an error about one field of a Config or CheckConfig.
type ConfigError struct {
	// Field names the field, e.g. "Config.Schema".
	Field string
	// Problem says what is wrong with it and how to fix it.
	Problem string
}

// Error implements error.
func (e *ConfigError) Error() string { return fmt.Sprintf("option %s: %s", e.Field, e.Problem) }

// Unwrap returns ErrBadConfig.
func (e *ConfigError) Unwrap() error { return ErrBadConfig }

// SchemaError reports that the job log schema is missing or incomplete.
type SchemaError struct {
	// Schema is the job log schema that was looked for.
	Schema string
	// Err is the server's error.
	Err error
}

// Error implements error.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("jobmon schema %q is missing or incomplete (create it with Logger.Migrate): %v", e.Schema, e.Err)
}

// Unwrap returns ErrSchemaMissing and the server's error.
func (e *SchemaError) Unwrap() []error { return []error{ErrSchemaMissing, e.Err} }

// wrap turns the server's "no such schema/table/function" errors into a
// *SchemaError and adds what was being done to every other error.
func (l *Logger) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgerrcode.InvalidSchemaName, pgerrcode.UndefinedTable, pgerrcode.UndefinedFunction:
			return fmt.Errorf("%s: %w", what, &SchemaError{Schema: l.schema, Err: err})
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
