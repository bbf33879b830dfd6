package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// PSQLEnv returns the environment for running psql against database db of
// the server as the superuser: connection settings in PG* variables, so the
// password never appears on a command line.
func (s *Server) PSQLEnv(db string) []string {
	return append(os.Environ(),
		"PGHOST="+s.Host, "PGPORT="+s.Port, "PGUSER="+s.User, "PGPASSWORD="+s.Password,
		"PGDATABASE="+db, "PGSSLMODE=disable")
}

// PSQLPipe runs `psql -c outSQL | psql -c inSQL` from database srcDB to
// dstDB, the baseline that benchmarks compare the Go pipe with. It needs the
// psql client on PATH.
func (s *Server) PSQLPipe(tb testing.TB, srcDB, outSQL, dstDB, inSQL string) {
	tb.Helper()
	if _, err := exec.LookPath("psql"); err != nil {
		tb.Fatalf("pgtest: psql client not found: %v", err)
	}
	out := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", outSQL)
	out.Env = s.PSQLEnv(srcDB)
	in := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", inSQL)
	in.Env = s.PSQLEnv(dstDB)
	pipe, err := out.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	in.Stdin = pipe
	var errOut, errIn safeBuffer
	out.Stderr, in.Stderr = &errOut, &errIn
	if err := in.Start(); err != nil {
		tb.Fatal(err)
	}
	if err := out.Run(); err != nil {
		tb.Fatalf("pgtest: psql copy out: %v: %s", err, errOut.String())
	}
	if err := in.Wait(); err != nil {
		tb.Fatalf("pgtest: psql copy in: %v: %s", err, errIn.String())
	}
}

// PSQL runs one psql command on database db and returns its output.
func (s *Server) PSQL(tb testing.TB, db, sql string) string {
	tb.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Env = s.PSQLEnv(db)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("pgtest: psql %s: %v: %s", sql, err, out)
	}
	return string(out)
}

type safeBuffer struct{ b []byte }

func (s *safeBuffer) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *safeBuffer) String() string              { return fmt.Sprint(string(s.b)) }
