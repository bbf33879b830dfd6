// Package dsn keeps secrets out of connection strings that pgmimeo stores
// or shows: it strips or masks them field by field (never by searching for
// a password as a substring of a message), and turns a parse failure into
// an error that shows no part of the string that failed.
package dsn

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// IsSecret reports whether a connection parameter holds a secret: the
// password, the client key's passphrase (sslpassword), and any parameter
// whose name says it is a password, a secret or a token (libpq's newer
// OAuth parameters among them).
func IsSecret(key string) bool {
	k := strings.ToLower(strings.TrimSpace(key))
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// HasSecret reports whether dsn (a URL or keyword/value connection string)
// holds a secret (see IsSecret): a URL's password or a parameter named as
// one. Text that does not parse holds none that can be found; ParsePool
// refuses it.
func HasSecret(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return false
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				return true
			}
		}
		for k := range u.Query() {
			if IsSecret(k) {
				return true
			}
		}
		return false
	}
	pairs, err := splitConninfo(dsn)
	if err != nil {
		return false
	}
	for _, p := range pairs {
		if IsSecret(p[0]) {
			return true
		}
	}
	return false
}

// Strip returns dsn (a URL or keyword/value connection string) without
// any secret (see IsSecret), for storing. The rest is kept as given.
func Strip(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", ParseError(dsn)
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		changed := false
		for k := range q {
			if IsSecret(k) {
				q.Del(k)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	pairs, err := splitConninfo(dsn)
	if err != nil {
		return "", ParseError(dsn)
	}
	var out []string
	for _, p := range pairs {
		if IsSecret(p[0]) {
			continue
		}
		out = append(out, p[0]+"="+quoteConninfo(p[1]))
	}
	return strings.Join(out, " "), nil
}

// Redact returns dsn with every secret (see IsSecret) replaced by "xxxxx",
// for messages. Text that does not parse is replaced whole: where its
// fields begin and end is then unknown, so no part of it is safe to show.
func Redact(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparsable connection URL)"
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		q := u.Query()
		changed := false
		for k := range q {
			if IsSecret(k) {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	pairs, err := splitConninfo(dsn)
	if err != nil {
		return "(unparsable connection string)"
	}
	var out []string
	for _, p := range pairs {
		v := p[1]
		if IsSecret(p[0]) {
			v = "xxxxx"
		}
		out = append(out, p[0]+"="+quoteConninfo(v))
	}
	return strings.Join(out, " ")
}

// Error is a connection string that could not be parsed. It shows the
// string only through Redact, and does not wrap the parser's error, whose
// text may quote the string as it was given.
type Error struct {
	// Redacted is the string as Redact shows it.
	Redacted string
}

// Error implements error.
func (e *Error) Error() string {
	return "cannot parse the connection string " + e.Redacted +
		": check its syntax (in a URL, percent-encode @, :, / and # in the user name and password)"
}

// ParseError is the error to report for dsn when it fails to parse,
// whatever the parser said.
func ParseError(dsn string) error { return &Error{Redacted: Redact(dsn)} }

func quoteConninfo(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// splitConninfo parses libpq's keyword=value form.
func splitConninfo(s string) ([][2]string, error) {
	var out [][2]string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("connection string: missing '=' after a keyword")
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '\'' {
					i++
					closed = true
					break
				}
				val.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("connection string: unterminated quoted value for %s", key)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}

// ParsePool parses connString as pgxpool.ParseConfig does, refusing first
// a URL whose host part holds more than one '@': a password with a raw
// '@' would be cut there, and the rest of it taken for the host name and
// shown in every connection error. A failure is ParseError's, showing
// nothing of the string beyond Redact.
func ParsePool(connString string) (*pgxpool.Config, error) {
	if rest, ok := cutScheme(connString); ok {
		host := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host = rest[:i]
		}
		if strings.Count(host, "@") > 1 {
			return nil, ParseError(connString)
		}
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, ParseError(connString)
	}
	return cfg, nil
}

// DefaultAppName sets cfg's application_name to name unless the
// connection string (or the caller) set one, so the sessions pgmimeo opens
// say whose they are in pg_stat_activity.
func DefaultAppName(cfg *pgxpool.Config, name string) {
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok && name != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}
}

func cutScheme(s string) (string, bool) {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return "", false
}
