package sqltext

import (
	"errors"
	"fmt"
)

// ErrUnsafeCondition is wrapped by the error of CheckCondition.
var ErrUnsafeCondition = errors.New("row condition is not a single SQL expression")

// CheckCondition reads a row condition as PostgreSQL's lexer would and
// refuses any text that could end the statement it is placed in or reach
// past its own end, so that the condition stays one closed piece of SQL
// wherever it is appended:
//
//   - a ';' outside string literals, quoted identifiers and comments;
//   - parentheses that do not balance (a ')' could close the caller's);
//   - a literal, quoted identifier, dollar quote or block comment that is
//     not closed;
//   - a '--' comment, which would swallow the rest of the caller's line;
//   - a backslash in a string literal other than E'…': whether it escapes
//     the quote depends on standard_conforming_strings, so the text could
//     be read differently by this check and by the server.
//
// Whether the condition means anything (its columns, its type) is the
// server's to say; this check only keeps it from being more than one
// expression.
func CheckCondition(c string) error {
	bad := func(at int, why string) error {
		return fmt.Errorf("%w: %s at byte %d", ErrUnsafeCondition, why, at+1)
	}
	depth := 0
	for i := 0; i < len(c); {
		ch := c[i]
		switch {
		case ch == 0:
			return bad(i, "a NUL byte")
		case ch == ';':
			return bad(i, "a ';' (a row condition is one expression, not statements)")
		case ch == '(':
			depth++
			i++
		case ch == ')':
			if depth == 0 {
				return bad(i, "a ')' without its '('")
			}
			depth--
			i++
		case ch == '-' && i+1 < len(c) && c[i+1] == '-':
			return bad(i, "a '--' comment (use /* … */)")
		case ch == '/' && i+1 < len(c) && c[i+1] == '*':
			end, ok := blockComment(c, i)
			if !ok {
				return bad(i, "a comment that is not closed")
			}
			i = end
		case ch == '\'':
			end, err := literal(c, i, false)
			if err != "" {
				return bad(i, err)
			}
			i = end
		case ch == '"':
			end, ok := quotedIdent(c, i)
			if !ok {
				return bad(i, "a quoted identifier that is not closed")
			}
			i = end
		case ch == '$':
			if i+1 < len(c) && isDigit(c[i+1]) { // a parameter, $1
				i++
				for i < len(c) && isDigit(c[i]) {
					i++
				}
				continue
			}
			end, ok := dollarQuote(c, i)
			if !ok {
				return bad(i, "a '$' that does not open a closed dollar quote")
			}
			i = end
		case isIdentStart(ch):
			start := i
			for i < len(c) && isIdentCont(c[i]) {
				i++
			}
			if i-start == 1 && (ch == 'e' || ch == 'E') && i < len(c) && c[i] == '\'' {
				end, err := literal(c, i, true)
				if err != "" {
					return bad(i, err)
				}
				i = end
			}
		default:
			i++
		}
	}
	if depth != 0 {
		return bad(len(c)-1, "a '(' that is not closed")
	}
	return nil
}

// literal scans the string literal whose opening quote is at c[i] and
// returns the index after its closing quote, or a reason it is unsafe.
// escapes: an E'…' literal, where a backslash escapes the next byte.
func literal(c string, i int, escapes bool) (int, string) {
	for j := i + 1; j < len(c); j++ {
		switch c[j] {
		case '\\':
			if !escapes {
				return 0, "a backslash in a string literal (write E'…' for escapes)"
			}
			j++
		case '\'':
			if j+1 < len(c) && c[j+1] == '\'' {
				j++
				continue
			}
			return j + 1, ""
		}
	}
	return 0, "a string literal that is not closed"
}

func quotedIdent(c string, i int) (int, bool) {
	for j := i + 1; j < len(c); j++ {
		if c[j] == '"' {
			if j+1 < len(c) && c[j+1] == '"' {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// blockComment scans a /* … */ comment, which nests in PostgreSQL.
func blockComment(c string, i int) (int, bool) {
	depth := 0
	for j := i; j+1 < len(c); {
		switch {
		case c[j] == '/' && c[j+1] == '*':
			depth++
			j += 2
		case c[j] == '*' && c[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j, true
			}
		default:
			j++
		}
	}
	return 0, false
}

// dollarQuote scans $tag$ … $tag$ from c[i].
func dollarQuote(c string, i int) (int, bool) {
	j := i + 1
	if j < len(c) && isDollarTagStart(c[j]) {
		for j < len(c) && isDollarTagCont(c[j]) {
			j++
		}
	}
	if j >= len(c) || c[j] != '$' {
		return 0, false
	}
	tag := c[i : j+1]
	for k := j + 1; k+len(tag) <= len(c); k++ {
		if c[k:k+len(tag)] == tag {
			return k + len(tag), true
		}
	}
	return 0, false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isIdentStart(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b >= 0x80
}

func isIdentCont(b byte) bool { return isIdentStart(b) || isDigit(b) || b == '$' }

func isDollarTagStart(b byte) bool { return isIdentStart(b) }

func isDollarTagCont(b byte) bool { return isIdentStart(b) || isDigit(b) }
