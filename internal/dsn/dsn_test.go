package dsn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
)

func TestSecretsByField(t *testing.T) {
	cases := []struct{ in, stripped, redacted string }{
		{"host=h user=work password=work", "host=h user=work", "host=h user=work password=xxxxx"},
		{"host=h sslpassword=k sslkey=/k.pem", "host=h sslkey=/k.pem", "host=h sslpassword=xxxxx sslkey=/k.pem"},
		{"host=h oauth_client_secret=s", "host=h", "host=h oauth_client_secret=xxxxx"},
		{"postgres://u@h/db?sslpassword=k&sslmode=require", "postgres://u@h/db?sslmode=require", "postgres://u@h/db?sslmode=require&sslpassword=xxxxx"},
	}
	for _, c := range cases {
		got, err := dsn.Strip(c.in)
		require.NoError(t, err)
		require.Equal(t, c.stripped, got)
		require.Equal(t, c.redacted, dsn.Redact(c.in))
		require.True(t, dsn.HasSecret(c.in), c.in)
		require.False(t, dsn.HasSecret(got), got)
	}
	for _, none := range []string{"host=h user=u", "postgres://u@h/db", "host=h application_name='x password=y'"} {
		require.False(t, dsn.HasSecret(none), none)
	}
	require.True(t, dsn.HasSecret("postgres://u:p@h/db"))
}

func TestParsePoolShowsNoPartOfASecret(t *testing.T) {
	for _, s := range []string{
		"postgres://u:Pa@rt2@127.0.0.1:5432/db", // a raw '@' in the password
		"postgres://u:Pa%zzrt2@127.0.0.1/db",    // a bad escape
		"host=h port=notaport password=Part2",
		"host=h password='Part2",
	} {
		_, err := dsn.ParsePool(s)
		require.Error(t, err, s)
		require.NotContains(t, err.Error(), "rt2", s)
		var pe *dsn.Error
		require.ErrorAs(t, err, &pe)
	}
	cfg, err := dsn.ParsePool("postgres://u:Pa%40rt2@127.0.0.1:5432/db")
	require.NoError(t, err)
	require.Equal(t, "Pa@rt2", cfg.ConnConfig.Password)
}

func TestDefaultAppName(t *testing.T) {
	cfg, err := dsn.ParsePool("host=h application_name=mine")
	require.NoError(t, err)
	dsn.DefaultAppName(cfg, "pgmimeo")
	require.Equal(t, "mine", cfg.ConnConfig.RuntimeParams["application_name"])
	cfg, err = dsn.ParsePool("host=h")
	require.NoError(t, err)
	dsn.DefaultAppName(cfg, "pgmimeo")
	require.Equal(t, "pgmimeo", cfg.ConnConfig.RuntimeParams["application_name"])
}
