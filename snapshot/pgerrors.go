package snapshot

import (
	"fmt"

	"github.com/jackc/pgerrcode"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// privilegeError turns a permission failure on table t into a
// *replication.TableError wrapping ErrPrivilege and the server's error;
// other errors are returned as they are.
func privilegeError(t replication.Table, err error, fix string) error {
	if sqltext.SQLState(err) == pgerrcode.InsufficientPrivilege {
		return &replication.TableError{Table: t, Err: fmt.Errorf("%w: %w", replication.ErrPrivilege, err), Fix: fix}
	}
	return err
}
