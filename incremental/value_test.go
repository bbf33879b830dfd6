package incremental

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
)

// TestQuoteLiteral: quoted literals read back as the text they quote, with
// either setting of standard_conforming_strings.
func TestQuoteLiteral(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	inputs := []string{"", "plain", "it's", `back\slash`, `both\'"`, "'; DROP TABLE x; --", "ünïcødé", `\\'\'`}
	for _, scs := range []string{"on", "off"} {
		conn, err := b.Source.Acquire(ctx)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SET standard_conforming_strings = "+scs)
		require.NoError(t, err)
		for _, in := range inputs {
			var out string
			require.NoError(t, conn.QueryRow(ctx, "SELECT "+sqltext.Literal(in)+"::text").Scan(&out), "%q", in)
			require.Equal(t, in, out, "standard_conforming_strings=%s", scs)
		}
		_, err = conn.Exec(ctx, "RESET standard_conforming_strings")
		require.NoError(t, err)
		conn.Release()
	}
}

// TestLatePred: the late-row predicate widens xmin into the right epoch and
// asks the previous snapshot about it, as the server's own functions do.
func TestLatePred(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	const e = int64(3) << 32
	cases := []struct {
		prev    string
		curXmax int64
		xmin    int64
		late    bool
	}{
		// Third epoch: prev snapshot xmin E+100, xmax E+200, E+150 running.
		{"12884901988:12884902088:12884902038", e + 300, 50, false},         // committed before prev
		{"12884901988:12884902088:12884902038", e + 300, 150, true},         // running at prev
		{"12884901988:12884902088:12884902038", e + 300, 160, false},        // committed before prev
		{"12884901988:12884902088:12884902038", e + 300, 250, true},         // began after prev
		{"12884901988:12884902088:12884902038", e + 300, 4294967000, false}, // last epoch
		// First epoch.
		{"500:600:550", 1000, 550, true},
		{"500:600:550", 1000, 100, false},
		{"500:600:550", 1000, 700, true},
		{"500:600:550", 1000, 5000, false},
	}
	for _, tc := range cases {
		var late bool
		q := "SELECT " + latePred(tc.prev, tc.curXmax) + " FROM (SELECT $1::bigint::text::xid AS xmin) v"
		require.NoError(t, b.Source.QueryRow(context.Background(), q, tc.xmin).Scan(&late), q)
		require.Equal(t, tc.late, late, "xmin %d in snapshot %s (xmax now %d)", tc.xmin, tc.prev, tc.curXmax)
	}
}

func TestSnapshotXmax(t *testing.T) {
	n, err := snapshotXmax("10:20:12,14")
	require.NoError(t, err)
	require.EqualValues(t, 20, n)
	_, err = snapshotXmax("garbage")
	require.Error(t, err)
}
