package replication

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maxIdentLen is PostgreSQL's NAMEDATALEN-1: longer names are silently
// truncated by the server, so they are refused here instead.
const maxIdentLen = 63

// Table names one table (or view) by schema and name. Names are taken
// literally: case, spaces, hyphens, dots and quotes are part of the name and
// every SQL text made from a Table quotes both parts.
type Table struct {
	Schema string
	Name   string
}

// T returns the table schema.name, both taken literally.
func T(schema, name string) Table { return Table{Schema: schema, Name: name} }

// Sanitize returns the quoted, schema-qualified name for use in SQL text.
// An empty schema yields just the quoted name.
func (t Table) Sanitize() string {
	if t.Schema == "" {
		return pgx.Identifier{t.Name}.Sanitize()
	}
	return pgx.Identifier{t.Schema, t.Name}.Sanitize()
}

// String returns the quoted, schema-qualified name, as Sanitize does.
func (t Table) String() string { return t.Sanitize() }

// Ident returns the name as a pgx.Identifier (for CopyFrom and the like).
func (t Table) Ident() pgx.Identifier {
	if t.Schema == "" {
		return pgx.Identifier{t.Name}
	}
	return pgx.Identifier{t.Schema, t.Name}
}

// IsZero reports whether the reference names nothing.
func (t Table) IsZero() bool { return t.Schema == "" && t.Name == "" }

// WithName returns the table in the same schema under another name.
func (t Table) WithName(name string) Table { return Table{Schema: t.Schema, Name: name} }

// Validate checks that both parts are present and fit PostgreSQL's limit of
// 63 bytes, so the server will not truncate them into another name.
func (t Table) Validate() error {
	if t.Name == "" {
		return &TableError{Table: t, Err: ErrBadName, Fix: "give the table a name"}
	}
	if t.Schema == "" {
		return &TableError{Table: t, Err: ErrBadName, Fix: "give the schema explicitly (for example \"public\")"}
	}
	for _, part := range []string{t.Schema, t.Name} {
		if len(part) > maxIdentLen {
			return &TableError{Table: t, Err: ErrBadName,
				Fix: fmt.Sprintf("use a name of at most %d bytes (%q has %d)", maxIdentLen, part, len(part))}
		}
		if strings.ContainsRune(part, 0) {
			return &TableError{Table: t, Err: ErrBadName, Fix: "remove the NUL byte from the name"}
		}
	}
	return nil
}

// ParseTable parses a table name as written in SQL: "schema.table" with
// either part optionally double-quoted (quotes doubled inside). Unquoted parts
// are folded to lower case, as PostgreSQL does. A name without a schema gets
// "public".
func ParseTable(s string) (Table, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return Table{}, fmt.Errorf("parse table name %q: %w", s, err)
	}
	var t Table
	switch len(parts) {
	case 1:
		t = Table{Schema: "public", Name: parts[0]}
	case 2:
		t = Table{Schema: parts[0], Name: parts[1]}
	default:
		return Table{}, fmt.Errorf("parse table name %q: want schema.table", s)
	}
	return t, t.Validate()
}

// MustParseTable is ParseTable that panics on error, for constants in tests
// and examples.
func MustParseTable(s string) Table {
	t, err := ParseTable(s)
	if err != nil {
		panic(err)
	}
	return t
}

func splitQualified(s string) ([]string, error) {
	var parts []string
	i := 0
	for {
		if i >= len(s) {
			return nil, fmt.Errorf("empty name part")
		}
		var part strings.Builder
		if s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						part.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				part.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted name")
			}
			if part.Len() == 0 {
				return nil, fmt.Errorf("empty quoted name")
			}
		} else {
			start := i
			for i < len(s) && s[i] != '.' {
				if s[i] == '"' || s[i] == ' ' {
					return nil, fmt.Errorf("unquoted name contains %q: quote it", s[i])
				}
				i++
			}
			if i == start {
				return nil, fmt.Errorf("empty name part")
			}
			part.WriteString(strings.ToLower(s[start:i]))
		}
		parts = append(parts, part.String())
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("unexpected %q after quoted name", s[i])
		}
		i++
	}
}

// QuoteIdent quotes one identifier (a column, schema or role name).
func QuoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }
