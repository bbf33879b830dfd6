package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// EnvOtherImage names the container image of a second server, of another
// major version than the shared one, for the tests that replicate across
// versions (SetupAcross). Unset, those tests are skipped and say so.
const EnvOtherImage = "PGMIMEO_TEST_OTHER_IMAGE"

var (
	otherOnce   sync.Once
	otherServer *Server
	otherErr    error
)

// Other returns the test binary's second server, started on first use
// from the image EnvOtherImage names; Main stops it. The test is skipped
// when EnvOtherImage is unset, and fails when the server cannot start.
func Other(tb testing.TB) *Server {
	tb.Helper()
	image := os.Getenv(EnvOtherImage)
	if image == "" {
		tb.Skipf("pgtest: %s is not set: no second PostgreSQL version to replicate across (CI sets it)", EnvOtherImage)
	}
	otherOnce.Do(func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		otherServer, otherErr = startDockerImage(context.Background(), image)
	})
	if otherErr != nil {
		tb.Fatalf("pgtest: second server from %s: %v", image, otherErr)
	}
	return otherServer
}

// stopOther stops the second server, if one was started.
func stopOther() {
	if otherServer != nil && otherServer.stop != nil {
		if err := otherServer.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop second server: %v\n", err)
		}
		otherServer.stop = nil
	}
}

// SetupAcross is Setup with the two databases on servers of different
// major versions: the source on the shared server and the destination on
// Other's, or (sourceOnOther) the other way round. Bundle.Server is the
// source's server.
func SetupAcross(tb testing.TB, sourceOnOther bool) *Bundle {
	tb.Helper()
	src, dst := Shared(tb), Other(tb)
	if sourceOnOther {
		src, dst = dst, src
	}
	b := &Bundle{Server: src}
	b.SourceDB = src.CreateDatabase(tb)
	b.DestDB = dst.CreateDatabase(tb)
	b.SourceDSN = src.AdminDSN(b.SourceDB)
	b.DestDSN = dst.AdminDSN(b.DestDB)
	b.Source = Pool(tb, b.SourceDSN)
	b.Dest = Pool(tb, b.DestDSN)
	return b
}

// Version returns the server's major version (15, 17, …).
func (s *Server) Version(ctx context.Context) (int, error) {
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(ctx) }()
	var num int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&num); err != nil {
		return 0, err
	}
	return num / 10000, nil
}
