package snapshot

import (
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/replication"
)

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// privilegeError turns a permission failure on table t into a
// *replication.TableError wrapping ErrPrivilege and the server's error;
// other errors are returned as they are.
func privilegeError(t replication.Table, err error, fix string) error {
	if pgCode(err) == pgerrcode.InsufficientPrivilege {
		return &replication.TableError{Table: t, Err: fmt.Errorf("%w: %w", replication.ErrPrivilege, err), Fix: fix}
	}
	return err
}

// isLockTimeout reports whether err is a lock_timeout expiry.
func isLockTimeout(err error) bool { return pgCode(err) == pgerrcode.LockNotAvailable }
