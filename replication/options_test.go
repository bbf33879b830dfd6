package replication_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
)

func TestNormalizeCondition(t *testing.T) {
	cases := map[string]string{
		"":                                  "",
		"   ":                               "",
		"WHERE a > 1":                       " WHERE a > 1",
		"where(a > 1)":                      " where(a > 1)",
		"a > 1":                             " WHERE a > 1",
		"whereabouts = 'x'":                 " WHERE whereabouts = 'x'",
		", other o WHERE o.id = source.oid": " , other o WHERE o.id = source.oid",
	}
	src := replication.T("public", "source")
	for in, want := range cases {
		got, err := replication.NormalizeCondition(src, in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := replication.NormalizeCondition(src, "a > 1; DROP TABLE source")
	require.ErrorIs(t, err, replication.ErrBadCondition)
	var te *replication.TableError
	require.ErrorAs(t, err, &te)
	require.Equal(t, src, te.Table)
	require.True(t, (&replication.Options{Condition: " , x WHERE true"}).HasJoin())
	require.False(t, (&replication.Options{Condition: "WHERE true"}).HasJoin())
}

func TestOptionsDefaultsAndValidate(t *testing.T) {
	var nilOpts *replication.Options
	require.NoError(t, nilOpts.Validate())
	require.Equal(t, "mimeo", nilOpts.CatalogSchema())
	require.Equal(t, "default", nilOpts.Source())
	src := replication.T("public", "orders")
	require.Equal(t, src, nilOpts.DestFor(src))
	require.Equal(t, replication.T("public", "copy"), (&replication.Options{Dest: replication.T("", "copy")}).DestFor(src))

	bad := []struct {
		o     replication.Options
		field string
	}{
		{replication.Options{BatchLimit: -1}, "Options.BatchLimit"},
		{replication.Options{Period: -time.Second}, "Options.Period"},
		{replication.Options{Condition: "true; DROP TABLE victim"}, "Options.Condition"},
		{replication.Options{Dest: replication.T("s", "")}, "Options.Dest"},
		{replication.Options{Dest: replication.T("s", string(make([]byte, 64)))}, "Options.Dest"},
	}
	for _, c := range bad {
		err := c.o.Validate()
		require.ErrorIs(t, err, replication.ErrBadOption)
		require.ErrorContains(t, err, c.field)
	}
}
