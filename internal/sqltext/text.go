package sqltext

import (
	"errors"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Literal quotes s as an SQL string literal that means s whatever the
// session's standard_conforming_strings: the E'…' form, with backslashes
// doubled, when s holds a backslash (as libpq's PQescapeLiteral does).
func Literal(s string) string {
	if strings.Contains(s, `\`) {
		return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Ident quotes one identifier.
func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// IdentList returns the quoted names, comma separated, each prefixed by
// qualifier and a dot when qualifier is not empty.
func IdentList(qualifier string, names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if qualifier != "" {
			b.WriteString(qualifier)
			b.WriteByte('.')
		}
		b.WriteString(Ident(n))
	}
	return b.String()
}

// SQLState returns the SQLSTATE of the *pgconn.PgError in err's chain,
// or "" when there is none.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// IsLockTimeout reports whether err is a lock_timeout expiry (55P03).
func IsLockTimeout(err error) bool { return SQLState(err) == pgerrcode.LockNotAvailable }

// IsAuthFailure reports whether err is a refused login: a wrong or
// missing password (28P01) or a role the server does not let in (28000).
func IsAuthFailure(err error) bool {
	code := SQLState(err)
	return code == pgerrcode.InvalidPassword || code == pgerrcode.InvalidAuthorizationSpecification
}
