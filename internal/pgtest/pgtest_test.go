package pgtest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestServerHasLogicalWAL(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	var level string
	require.NoError(t, b.Source.QueryRow(context.Background(), "show wal_level").Scan(&level))
	require.Equal(t, "logical", level)
	t.Logf("server source: %s", b.Server.Source)
}

func TestParallelTestsAreIsolated(t *testing.T) {
	t.Parallel()
	names := make(chan string, 4)
	for i := 0; i < 4; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			require.NotEqual(t, b.SourceDB, b.DestDB)
			names <- b.SourceDB
			// Every test uses the same table name with its own data.
			pgtest.MustExec(t, b.Source, `CREATE TABLE t (id int primary key, who text)`)
			pgtest.MustExec(t, b.Source, `INSERT INTO t SELECT g, $1 FROM generate_series(1, 100) g`, fmt.Sprint("test", i))
			time.Sleep(50 * time.Millisecond) // overlap with the other tests
			got := pgtest.Rows(t, b.Source, `SELECT DISTINCT who FROM t`)
			require.Equal(t, []string{fmt.Sprintf("(test%d)", i)}, got)
			require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT relname FROM pg_class WHERE relname = 't'`))
		})
	}
	t.Cleanup(func() {
		close(names)
		seen := map[string]bool{}
		for n := range names {
			require.False(t, seen[n], "database %s handed out twice", n)
			seen[n] = true
		}
	})
}

func TestRolesHaveOnlyWhatIsGranted(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `CREATE TABLE secret (id int)`)
	r := b.CreateRole(t)
	pool := pgtest.Pool(t, b.DSN(b.SourceDB, r))
	_, err := pool.Exec(context.Background(), `SELECT * FROM secret`)
	require.ErrorContains(t, err, "permission denied")
	pgtest.MustExec(t, b.Source, `GRANT SELECT ON secret TO `+quote(r.Name))
	_, err = pool.Exec(context.Background(), `SELECT * FROM secret`)
	require.NoError(t, err)
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TestHelperProcess is run by TestCleanupLeavesNothingBehind in a child
// process; it is skipped in a normal run.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("PGTEST_HELPER")
	if mode == "" {
		t.Skip("helper for TestCleanupLeavesNothingBehind")
	}
	b := pgtest.Setup(t)
	s := b.Server
	fmt.Printf("SERVER source=%s pid=%d dir=%s container=%s\n", s.Source, s.Pid, s.Dir, s.Container)
	os.Stdout.Sync()
	switch mode {
	case "fail":
		t.Fatal("failing on purpose")
	case "wait":
		time.Sleep(2 * time.Minute) // the parent interrupts us
	}
}

func TestCleanupLeavesNothingBehind(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") != "" {
		t.Skip()
	}
	sources := []string{"local"}
	if os.Getenv(pgtest.EnvImage) != "" {
		sources = append(sources, "docker")
	}
	for _, source := range sources {
		for _, mode := range []string{"pass", "fail", "interrupt"} {
			t.Run(source+"/"+mode, func(t *testing.T) {
				t.Parallel()
				helper := mode
				if mode == "interrupt" {
					helper = "wait"
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
				cmd.Env = append(os.Environ(), "PGTEST_HELPER="+helper, pgtest.EnvServer+"="+source)
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				cmd.Stderr = os.Stderr
				require.NoError(t, cmd.Start())
				var line string
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "SERVER ") {
						line = sc.Text()
						break
					}
				}
				require.NotEmpty(t, line, "helper printed no server line")
				fields := map[string]string{}
				for _, f := range strings.Fields(line)[1:] {
					k, v, _ := strings.Cut(f, "=")
					fields[k] = v
				}
				require.Equal(t, source, fields["source"])
				if mode == "interrupt" {
					require.NoError(t, cmd.Process.Signal(os.Interrupt))
				}
				go func() {
					for sc.Scan() {
					}
				}()
				err = cmd.Wait()
				if mode == "pass" {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
				}
				switch source {
				case "local":
					pid, _ := strconv.Atoi(fields["pid"])
					require.NotZero(t, pid)
					require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 10*time.Second, 50*time.Millisecond,
						"postmaster %d still running", pid)
					_, err := os.Stat(fields["dir"])
					require.True(t, os.IsNotExist(err), "server dir %s left behind", fields["dir"])
				case "docker":
					require.Eventually(t, func() bool {
						return exec.Command("docker", "inspect", fields["container"]).Run() != nil
					}, 30*time.Second, 200*time.Millisecond, "container %s left behind", fields["container"])
				}
			})
		}
	}
}
