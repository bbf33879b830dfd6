package export

import (
	"strings"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Target names one receiver of a table's changes, as the original tool did:
// the host and database the files are for. The names are labels: they are
// never connected to. Each target of a table has its own position.
type Target struct {
	Host     string `json:"host"`
	Database string `json:"database"`
}

// String returns "database@host".
func (t Target) String() string { return t.Database + "@" + t.Host }

// validate refuses empty names and NUL bytes.
func (t Target) validate() error {
	if t.Host == "" || t.Database == "" {
		return &replication.OptionError{Field: "Target", Problem: "give both Host and Database"}
	}
	if strings.ContainsRune(t.Host+t.Database, 0) {
		return &replication.OptionError{Field: "Target", Problem: "remove the NUL byte from the name"}
	}
	return nil
}
