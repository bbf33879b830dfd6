package replication

import "github.com/pgmimeo/pgmimeo/internal/dsn"

// StripPassword returns dsn (a URL or keyword/value connection string)
// without any secret (password, sslpassword, and any parameter named as a
// password, secret or token), for storing. The rest is kept as given. A
// string that does not parse is an error that shows none of it.
func StripPassword(connString string) (string, error) { return dsn.Strip(connString) }

// RedactDSN returns dsn with every secret replaced by "xxxxx", for
// messages. Text that does not parse is replaced whole.
func RedactDSN(connString string) string { return dsn.Redact(connString) }
