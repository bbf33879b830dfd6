package replication

import (
	"fmt"
	"net/url"
	"strings"
)

// StripPassword returns dsn (a URL or keyword/value connection string)
// without its password, for storing or printing. The rest is kept as given.
func StripPassword(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse connection URL: %s", RedactDSN(dsn))
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		if q.Has("password") {
			q.Del("password")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	pairs, err := splitConninfo(dsn)
	if err != nil {
		return "", err
	}
	var out []string
	for _, p := range pairs {
		if p[0] == "password" {
			continue
		}
		out = append(out, p[0]+"="+quoteConninfo(p[1]))
	}
	return strings.Join(out, " "), nil
}

// RedactDSN returns dsn with any password replaced by "xxxxx", for messages.
// Text that does not parse is replaced whole.
func RedactDSN(dsn string) string {
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
		if q.Has("password") {
			q.Set("password", "xxxxx")
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
		if p[0] == "password" {
			v = "xxxxx"
		}
		out = append(out, p[0]+"="+quoteConninfo(v))
	}
	return strings.Join(out, " ")
}

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
