// Package pgmimeotest gives a program or a test a throwaway, real
// PostgreSQL server to replicate between, as river ships rivertest: the
// examples use it when no DSN is given, and users' own tests can too.
//
// Start finds a server in this order: the superuser DSN in
// PGMIMEO_TEST_DSN; a container of PGMIMEO_TEST_IMAGE (default
// postgres:15) through Docker; the PostgreSQL server binaries on the
// machine (pg_config --bindir, or PGMIMEO_PG_BINDIR), run as an
// unprivileged user when the program runs as root. The server has
// wal_level=logical, so logical capture works on it. Stop removes it.
package pgmimeotest
