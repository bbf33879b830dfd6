package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb found: install PostgreSQL server binaries or set " + EnvBinDir)
}

// runAs returns the credential to run the server with: none when the tests
// are not root, else the "postgres" user, else "nobody".
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres, nobody) to run the server")
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startLocal(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgmimeo-pg-")
	if err != nil {
		return nil, err
	}
	cleanupDir := func() { _ = os.RemoveAll(dir) }
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			cleanupDir()
			return nil, err
		}
	}
	password := randomPassword()
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		cleanupDir()
		return nil, err
	}
	if cred != nil {
		_ = os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		cleanupDir()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	_ = os.Remove(pwfile)

	port, err := freePort()
	if err != nil {
		cleanupDir()
		return nil, err
	}
	s := &Server{Source: "local", Host: "127.0.0.1", Port: strconv.Itoa(port), User: "postgres",
		Password: password, Dir: dir}
	s.local = &localProc{bin: bin, dir: dir, data: data, port: port, cred: cred}
	if err := s.local.launch(); err != nil {
		cleanupDir()
		return nil, err
	}
	s.Pid = s.local.cmd.Process.Pid
	s.stop = func() error {
		defer cleanupDir()
		return s.local.shutdown()
	}
	exited := s.local.exited
	if err := s.waitReady(ctx, 60*time.Second, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		_ = s.stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	return s, nil
}

// localProc is the postgres process of a local server, which a test may
// crash and start again on the same data directory (see Server.Crash).
type localProc struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
	cmd            *exec.Cmd
	logFile        *os.File
	exited         chan error
}

// launch starts postgres on the data directory.
func (p *localProc) launch() error {
	args := []string{"-D", p.data, "-p", strconv.Itoa(p.port), "-k", p.dir, "-c", "listen_addresses=127.0.0.1"}
	for _, s := range serverSettings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), args...)
	cmd.Dir = p.dir
	logFile, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server gets SIGQUIT (immediate shutdown) if the test binary dies
	// without running its cleanup; it has its own process group so a
	// terminal's Ctrl-C reaches only the test binary, which stops it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	p.cmd, p.logFile, p.exited = cmd, logFile, exited
	return nil
}

// shutdown stops postgres: a fast shutdown, then an immediate one, then
// a kill.
func (p *localProc) shutdown() error {
	defer p.logFile.Close()
	_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-p.exited:
		return nil
	case <-time.After(15 * time.Second):
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return errors.New("server did not stop in time; killed")
}

// crash stops postgres with pg_ctl stop -m immediate: every backend quits
// at once, nothing is flushed, and the next start recovers from the WAL.
func (p *localProc) crash(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "pg_ctl"), "stop", "-D", p.data, "-m", "immediate", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop -m immediate: %v: %s", err, out)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.logFile.Close()
}
