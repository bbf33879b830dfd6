package sqltext_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

func TestCheckCondition(t *testing.T) {
	ok := []string{
		``,
		`id > 3`,
		`WHERE id > 3 AND note <> ';'`,
		`, other o WHERE o.id = accounts.id`,
		`note = 'it''s; fine'`,
		`note = E'a\'; b'`,
		`"we;ird" = 1`,
		`"a""b" IS NULL`,
		`note = $$;$$ OR note = $x$ -- $x$`,
		`id /* ; /* nested ; */ */ > 1`,
		`a$b$c > 0`,
		`(id > 1) AND (id < (3))`,
		`note ~ '[0-9]+'`,
		`tags @> '{"a": 1}'`,
		`1e3 > id`,
		`id > 1e'; x'`, // 1 then E'; x': a literal as the server reads it too
	}
	for _, c := range ok {
		require.NoError(t, sqltext.CheckCondition(c), c)
	}
	bad := []string{
		`true; DROP TABLE victim`,
		`true; DROP TABLE victim; --`,
		`true) TO STDOUT; DROP TABLE victim; COPY (SELECT 1`,
		`true)`,
		`(true`,
		`true -- the rest`,
		`note = 'open`,
		`note = E'\'`,
		`"open`,
		`/* open`,
		`/* /* */ still open`,
		`$x$ open $y$`,
		`$ 1`,
		`note = 'a\'' ; DROP TABLE victim; SELECT '`,
		`U&'\0041' = note`,
		"true\x00",
	}
	for _, c := range bad {
		require.ErrorIs(t, sqltext.CheckCondition(c), sqltext.ErrUnsafeCondition, c)
	}
}

// FuzzCheckCondition: an accepted condition, whatever it is, stays a
// closed unit: wrapped in parentheses and followed by more text, it is
// still accepted (so nothing it opens can reach past its end), and no
// prefix of it that is accepted swallows a ';' that follows.
func FuzzCheckCondition(f *testing.F) {
	for _, s := range []string{`id > 1`, `note = 'x'`, `$a$;$a$`, `/* ; */`, `E'\''`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if sqltext.CheckCondition(c) != nil {
			return
		}
		require.NoError(t, sqltext.CheckCondition("("+c+") AND true"))
		require.Error(t, sqltext.CheckCondition(c+";"))
	})
}
