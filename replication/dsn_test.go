package replication_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/replication"
)

func TestStripAndRedactPassword(t *testing.T) {
	cases := []struct{ in, stripped, redacted string }{
		{"postgres://u:pw@h:5432/db?sslmode=require", "postgres://u@h:5432/db?sslmode=require", "postgres://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgresql://u@h/db?password=pw", "postgresql://u@h/db", "postgresql://u@h/db?password=xxxxx"},
		{"host=h password=pw dbname=db", "host=h dbname=db", "host=h password=xxxxx dbname=db"},
		{"host=h password='p w\\'x' user=u", "host=h user=u", "host=h password=xxxxx user=u"},
		{"host=h application_name='my app'", "host=h application_name='my app'", "host=h application_name='my app'"},
	}
	for _, c := range cases {
		got, err := replication.StripPassword(c.in)
		require.NoError(t, err)
		require.Equal(t, c.stripped, got)
		require.Equal(t, c.redacted, replication.RedactDSN(c.in))
	}
	_, err := replication.StripPassword("host=h password='unterminated")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "unterminated'")
	require.Equal(t, "(unparsable connection string)", replication.RedactDSN("password='pw"))
}
