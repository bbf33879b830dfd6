package replication

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on with errors.Is. The concrete error
// returned is usually a *TableError or *ColumnError wrapping one of these.
var (
	// ErrNotManaged: the destination table has no job in the catalog.
	ErrNotManaged = errors.New("table is not managed by pgmimeo")
	// ErrLocked: another refresh of the same destination table holds its lock.
	ErrLocked = errors.New("another refresh of this table is running")
	// ErrNoKey: the table has neither a primary key nor a usable unique index.
	ErrNoKey = errors.New("table has no primary key or usable unique index")
	// ErrTableNotFound: the source table or view does not exist or cannot be seen.
	ErrTableNotFound = errors.New("table not found")
	// ErrExists: an object that setup must create already exists.
	ErrExists = errors.New("already exists")
	// ErrSchemaNotFound: the destination's schema does not exist. No kind
	// creates a destination schema (see CheckDestSchema).
	ErrSchemaNotFound = errors.New("destination schema not found")
	// ErrColumnNotFound: a column named in the options is not in the table.
	ErrColumnNotFound = errors.New("column not found")
	// ErrFilterDropsKey: the column filter leaves out a key or control column.
	ErrFilterDropsKey = errors.New("column filter leaves out a required column")
	// ErrBadCondition: the row condition does not parse or run on the source.
	ErrBadCondition = errors.New("row condition is not valid on the source")
	// ErrBadName: a table or column name is empty or too long.
	ErrBadName = errors.New("invalid name")
	// ErrBadOption: an option has a value that cannot work.
	ErrBadOption = errors.New("invalid option")
	// ErrPrivilege: the connecting role lacks a privilege the job needs.
	ErrPrivilege = errors.New("insufficient privilege")
	// ErrWrongKind: the job exists but is of another replication kind.
	ErrWrongKind = errors.New("job is of another kind")
)

// TableError is an error about one table, naming the table and the fix.
type TableError struct {
	// Table is the table at fault.
	Table Table
	// Err is the cause: usually one of the sentinels, or a *pgconn.PgError.
	Err error
	// Fix says what the caller can do about it; may be empty.
	Fix string
}

// Error implements error.
func (e *TableError) Error() string {
	msg := fmt.Sprintf("table %s: %v", e.Table, e.Err)
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *TableError) Unwrap() error { return e.Err }

// ColumnError is an error about one column of a table.
type ColumnError struct {
	Table  Table
	Column string
	Err    error
	Fix    string
}

// Error implements error.
func (e *ColumnError) Error() string {
	msg := fmt.Sprintf("table %s, column %s: %v", e.Table, QuoteIdent(e.Column), e.Err)
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *ColumnError) Unwrap() error { return e.Err }

// OptionError is an error about a Config or Options field.
type OptionError struct {
	// Field names the option, e.g. "Options.BatchLimit".
	Field string
	// Problem says what is wrong with it.
	Problem string
	// Err, when not nil, is a more precise sentinel (ErrBadCondition for
	// Options.Condition), also matched by errors.Is.
	Err error
}

// Error implements error.
func (e *OptionError) Error() string {
	return fmt.Sprintf("option %s: %s", e.Field, e.Problem)
}

// Unwrap returns ErrBadOption, and Err when set.
func (e *OptionError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadOption, e.Err}
	}
	return []error{ErrBadOption}
}
