package replication_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// hostileNames are table names that break code which does not quote.
var hostileNames = []string{
	"Snap-test-Source",
	"primary",
	"group",
	`we"ird name`,
	strings.Repeat("x", 63),
	"MiXeD",
	"dots.in.name",
}

func TestTableSanitizeQuotesEverything(t *testing.T) {
	cases := []struct {
		table replication.Table
		want  string
	}{
		{replication.T("public", "Snap-test-Source"), `"public"."Snap-test-Source"`},
		{replication.T("public", "primary"), `"public"."primary"`},
		{replication.T("group", "group"), `"group"."group"`},
		{replication.T("s", `we"ird name`), `"s"."we""ird name"`},
		{replication.T("s", "dots.in.name"), `"s"."dots.in.name"`},
		{replication.T("", "solo"), `"solo"`},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.table.Sanitize())
		require.Equal(t, c.want, c.table.String())
	}
}

func TestTableValidate(t *testing.T) {
	require.NoError(t, replication.T("s", strings.Repeat("x", 63)).Validate())
	err := replication.T("s", strings.Repeat("x", 64)).Validate()
	require.ErrorIs(t, err, replication.ErrBadName)
	require.ErrorContains(t, err, "at most 63 bytes")
	// Multibyte characters count in bytes, as the server counts them.
	require.ErrorIs(t, replication.T("s", strings.Repeat("é", 32)).Validate(), replication.ErrBadName)
	require.ErrorIs(t, replication.T("", "t").Validate(), replication.ErrBadName)
	require.ErrorIs(t, replication.T("s", "").Validate(), replication.ErrBadName)
}

func TestParseTable(t *testing.T) {
	cases := []struct {
		in   string
		want replication.Table
		err  string
	}{
		{in: "orders", want: replication.T("public", "orders")},
		{in: "Sales.Orders", want: replication.T("sales", "orders")},
		{in: `"Sales"."Orders"`, want: replication.T("Sales", "Orders")},
		{in: `"Snap-test-Source"`, want: replication.T("public", "Snap-test-Source")},
		{in: `s."we""ird name"`, want: replication.T("s", `we"ird name`)},
		{in: `"a.b"."c.d"`, want: replication.T("a.b", "c.d")},
		{in: `a.b.c`, err: "want schema.table"},
		{in: `"open`, err: "unterminated"},
		{in: `has space`, err: "quote it"},
		{in: `a.`, err: "empty name part"},
		{in: `""`, err: "empty quoted name"},
	}
	for _, c := range cases {
		got, err := replication.ParseTable(c.in)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
		// What Sanitize writes parses back to the same table.
		back, err := replication.ParseTable(got.Sanitize())
		require.NoError(t, err)
		require.Equal(t, got, back)
	}
}

// TestHostileNamesWorkInSQL creates, fills, describes and reads tables with
// hostile schema, table and column names through Table and QuoteIdent.
func TestHostileNamesWorkInSQL(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	for _, name := range hostileNames {
		tbl := replication.T(name, name)
		col := replication.QuoteIdent(name)
		pgtest.MustExec(t, b.Source, `CREATE SCHEMA `+replication.QuoteIdent(name))
		pgtest.MustExec(t, b.Source, `CREATE TABLE `+tbl.Sanitize()+` (`+col+` int PRIMARY KEY, "select" text)`)
		pgtest.MustExec(t, b.Source, `INSERT INTO `+tbl.Sanitize()+` VALUES (1, $1)`, name)
		info, err := replication.Describe(ctx, b.Source, tbl)
		require.NoError(t, err, name)
		require.Equal(t, replication.KindTable, info.Kind)
		key, err := info.KeyColumns()
		require.NoError(t, err)
		require.Equal(t, []string{name}, key)
		require.Equal(t, []string{name, "select"}, []string{info.Columns[0].Name, info.Columns[1].Name})
		var got string
		require.NoError(t, b.Source.QueryRow(ctx, `SELECT "select" FROM `+tbl.Sanitize()+` WHERE `+col+` = 1`).Scan(&got))
		require.Equal(t, name, got)
	}
}
