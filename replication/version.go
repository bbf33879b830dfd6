package replication

import (
	"context"
	"errors"
	"fmt"
)

// The PostgreSQL major versions pgmimeo supports, as source and as
// destination, in any combination: the test suite runs on the lowest and
// the highest, and across them both ways. Older destinations lack MERGE,
// which dml and logdel apply with; versions past the highest are not
// tested yet.
const (
	MinServerVersion = 15
	MaxServerVersion = 17
)

// ErrUnsupportedVersion is wrapped by the *VersionError of a server whose
// major version pgmimeo does not support.
var ErrUnsupportedVersion = errors.New("PostgreSQL version not supported")

// VersionError says which server runs an unsupported version.
type VersionError struct {
	// Side is "source" or "destination"; Table the job's table there.
	Side  string
	Table Table
	// Version is the server's version as it reports it ("14.11").
	Version string
}

// Error implements error.
func (e *VersionError) Error() string {
	return fmt.Sprintf("%s of %s runs PostgreSQL %s; pgmimeo supports PostgreSQL %d to %d as source and destination: %v",
		e.Side, e.Table, e.Version, MinServerVersion, MaxServerVersion, ErrUnsupportedVersion)
}

// Unwrap returns ErrUnsupportedVersion.
func (e *VersionError) Unwrap() error { return ErrUnsupportedVersion }

// CheckServerVersion returns a *VersionError when the server behind db
// (the side of table t: "source" or "destination") runs a major version
// pgmimeo does not support. Every kind's Setup checks both sides, before
// it makes anything.
func CheckServerVersion(ctx context.Context, db Querier, side string, t Table) error {
	var num int
	var text string
	if err := db.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version')`).Scan(&num, &text); err != nil {
		return fmt.Errorf("read the %s's version: %w", side, err)
	}
	return judgeVersion(num, text, side, t)
}

func judgeVersion(num int, text, side string, t Table) error {
	if major := num / 10000; major < MinServerVersion || major > MaxServerVersion {
		return &VersionError{Side: side, Table: t, Version: text}
	}
	return nil
}
