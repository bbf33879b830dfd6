// Package pgtest gives tests a real PostgreSQL server and fresh, isolated
// databases on it.
//
// One server is started per test binary, on first use, from the first source
// that works, in this order:
//
//  1. PGMIMEO_TEST_DSN: the superuser DSN of a running server;
//  2. a container started with ory/dockertest from PGMIMEO_TEST_IMAGE
//     (default "postgres:15"), with wal_level=logical;
//  3. the PostgreSQL server binaries on the machine (pg_config --bindir, or
//     PGMIMEO_PG_BINDIR): initdb and postgres in a temporary directory,
//     run as an unprivileged OS user when the tests run as root.
//
// PGMIMEO_TEST_SERVER=dsn|docker|local forces one source; a forced source that
// fails is an error instead of a fall-through. A Docker engine that is absent
// or cannot pull the image is not an error: the harness says so once and
// tries the next source.
//
// Every package whose tests use the harness calls Main from its TestMain, so
// the server is stopped and its files removed when the tests end, also on
// failure, panic-free os.Exit paths and SIGINT/SIGTERM.
//
// Setup gives a test a source and a destination database of its own, each
// dropped when the test ends, so tests may run with t.Parallel.
// MustExample does the same for runnable Examples, which have no
// testing.TB.
package pgtest
