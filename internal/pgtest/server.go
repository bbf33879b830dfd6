package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by the harness.
const (
	// EnvDSN names a superuser DSN of a running server to use.
	EnvDSN = "PGMIMEO_TEST_DSN"
	// EnvImage names the container image for the dockertest source.
	EnvImage = "PGMIMEO_TEST_IMAGE"
	// EnvServer forces one source: "dsn", "docker" or "local".
	EnvServer = "PGMIMEO_TEST_SERVER"
	// EnvBinDir names the directory of initdb and postgres for the local source.
	EnvBinDir = "PGMIMEO_PG_BINDIR"
)

// DefaultImage is the container image used when EnvImage is unset.
const DefaultImage = "postgres:15"

// serverSettings are passed to every server the harness starts.
var serverSettings = []string{
	"wal_level=logical",
	"max_replication_slots=100",
	"max_wal_senders=100",
	"max_connections=400",
	"fsync=off",
	"full_page_writes=off",
	"shared_buffers=256MB",
	"max_wal_size=4GB",
	"log_min_messages=fatal",
}

// Server is a running PostgreSQL server owned by (or lent to) the test binary.
type Server struct {
	// Source says where the server came from: "dsn", "docker" or "local".
	Source string
	// Host and Port are where the server listens.
	Host string
	Port string
	// User and Password are the superuser credentials.
	User     string
	Password string
	// Pid is the postmaster's process id (local source only).
	Pid int
	// Dir is the server's temporary directory (local source only).
	Dir string
	// Container is the container id (docker source only).
	Container string

	stop  func() error
	local *localProc
}

var (
	sharedOnce   sync.Once
	sharedServer *Server
	sharedErr    error
	sharedMu     sync.Mutex
)

// Shared returns the test binary's server, starting it on first use. A test
// fails if no server can be had.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	s, err := SharedServer()
	if err != nil {
		tb.Fatalf("pgtest: no PostgreSQL server: %v", err)
	}
	return s
}

// SharedServer is Shared for code without a testing.TB, such as Examples.
// Main stops the server when the tests end.
func SharedServer() (*Server, error) {
	sharedOnce.Do(func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		sharedServer, sharedErr = start(context.Background())
	})
	return sharedServer, sharedErr
}

// Main runs the tests of m and then stops the shared server, also when the
// process is interrupted. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "pgtest: %v: stopping the test server\n", s)
		stopShared()
		os.Exit(130)
	}()
	os.Exit(runAndStop(m))
}

// runAndStop runs the tests and stops the shared server, also when an
// Example panics (Examples run on this goroutine; see MustExample).
func runAndStop(m *testing.M) int {
	defer stopShared()
	return m.Run()
}

func stopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	stopOther()
	if sharedServer != nil && sharedServer.stop != nil {
		if err := sharedServer.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop server: %v\n", err)
		}
		sharedServer.stop = nil
	}
}

// Stop stops a server started by StartServer. Stopping twice is harmless.
func (s *Server) Stop() error {
	if s.stop == nil {
		return nil
	}
	err := s.stop()
	s.stop = nil
	return err
}

// Crash stops a server of the local source the way a power cut would look
// to PostgreSQL: pg_ctl stop -m immediate, which ends every process without
// a checkpoint or a WAL flush. Restart brings it back.
func (s *Server) Crash(ctx context.Context) error {
	if s.local == nil {
		return fmt.Errorf("pgtest: only a server of the local source can be crashed (this one is %s)", s.Source)
	}
	return s.local.crash(ctx)
}

// Restart starts a crashed local server again on its data directory and
// port, and waits until it has recovered and accepts connections.
func (s *Server) Restart(ctx context.Context) error {
	if s.local == nil {
		return fmt.Errorf("pgtest: only a server of the local source can be restarted (this one is %s)", s.Source)
	}
	if err := s.local.launch(); err != nil {
		return err
	}
	s.Pid = s.local.cmd.Process.Pid
	return s.waitReady(ctx, 60*time.Second, s.local.exited)
}

// StartServer starts a server of its own for the caller, from the sources
// named by source ("" means the normal search order). Most tests want Shared.
func StartServer(ctx context.Context, source string) (*Server, error) {
	if source == "" {
		return start(ctx)
	}
	return startFrom(ctx, source)
}

var sayOnce sync.Map

// say prints a harness notice once per test binary.
func say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if _, loaded := sayOnce.LoadOrStore(msg, true); !loaded {
		fmt.Fprintln(os.Stderr, "pgtest: "+msg)
	}
}

func start(ctx context.Context) (*Server, error) {
	if forced := os.Getenv(EnvServer); forced != "" {
		return startFrom(ctx, forced)
	}
	if os.Getenv(EnvDSN) != "" {
		return startFrom(ctx, "dsn")
	}
	s, err := startFrom(ctx, "docker")
	if err == nil {
		return s, nil
	}
	say("docker source unavailable (%v); using local server binaries", err)
	return startFrom(ctx, "local")
}

func startFrom(ctx context.Context, source string) (*Server, error) {
	switch source {
	case "dsn":
		return fromDSN(ctx, os.Getenv(EnvDSN))
	case "docker":
		return startDocker(ctx)
	case "local":
		return startLocal(ctx)
	default:
		return nil, fmt.Errorf("%s=%q: want dsn, docker or local", EnvServer, source)
	}
}

func fromDSN(ctx context.Context, dsn string) (*Server, error) {
	if dsn == "" {
		return nil, fmt.Errorf("%s is empty", EnvDSN)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", EnvDSN, err)
	}
	s := &Server{Source: "dsn", Host: cfg.Host, Port: fmt.Sprint(cfg.Port), User: cfg.User, Password: cfg.Password}
	if err := s.waitReady(ctx, 10*time.Second, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// DSN returns a URL for database db as user with password.
func (s *Server) DSN(db, user, password string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(s.Host, s.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// AdminDSN returns the superuser DSN for database db.
func (s *Server) AdminDSN(db string) string { return s.DSN(db, s.User, s.Password) }

// Connect opens a superuser connection to database db.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.AdminDSN(db))
}

// waitReady polls until the server accepts connections, the deadline passes,
// or exited reports that the server process ended.
func (s *Server) waitReady(ctx context.Context, limit time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := s.Connect(cctx, "postgres")
		if err == nil {
			var level string
			err = conn.QueryRow(cctx, "show wal_level").Scan(&level)
			conn.Close(cctx)
			cancel()
			if err == nil {
				if level != "logical" {
					say("server has wal_level=%s; logical-decoding tests will fail", level)
				}
				return nil
			}
		}
		cancel()
		last = err
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before accepting connections: %v", err)
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("server not ready after %v: %v", limit, redact(last, s.Password))
}

func redact(err error, secret string) string {
	if err == nil {
		return "no error"
	}
	msg := err.Error()
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "xxxxx")
	}
	return msg
}

// freePort asks the kernel for a free TCP port on the loopback address.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
