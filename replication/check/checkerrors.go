package check

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// checkQueryError turns the failure of a check's query on table t into an
// error naming t: a missing privilege wraps ErrPrivilege, and a syntax or
// name error while a row condition is in use wraps ErrBadCondition; the
// *pgconn.PgError stays in the chain either way.
func checkQueryError(what string, t replication.Table, condition string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("%s %s: %w", what, t, err)
	}
	switch {
	case pgErr.Code == pgerrcode.InsufficientPrivilege:
		return &replication.TableError{Table: t, Err: fmt.Errorf("%s: %w: %w", what, replication.ErrPrivilege, err),
			Fix: "GRANT SELECT ON " + t.Sanitize() + " TO the role the check connects as"}
	case strings.TrimSpace(condition) != "" && strings.HasPrefix(pgErr.Code, "42"):
		return &replication.TableError{Table: t, Err: fmt.Errorf("%s: %w: %w", what, replication.ErrBadCondition, err),
			Fix: "correct the row condition so that it runs on this table"}
	}
	return &replication.TableError{Table: t, Err: fmt.Errorf("%s: %w", what, err)}
}

// whereAnd joins predicates with AND after WHERE; "" when there are none.
func whereAnd(preds []string) string {
	if len(preds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(preds, " AND ")
}

// checkDestCondition refuses a destination condition that joins further
// tables: it must be an expression on the destination's own columns.
func checkDestCondition(field, c string) error {
	if err := sqltext.CheckCondition(c); err != nil {
		return &replication.OptionError{Field: field, Problem: err.Error() + "; give one boolean expression, without ';' or '--' comments", Err: replication.ErrBadCondition}
	}
	if strings.HasPrefix(strings.TrimSpace(c), ",") {
		return &replication.OptionError{Field: field, Problem: "must be a condition on the destination's own columns, not a join"}
	}
	return nil
}
