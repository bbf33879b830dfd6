// Package examples_test checks that every example is a program a user can
// copy into a module of their own: it imports no internal package, builds
// there, and the quickstart runs there.
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExamplesBuildAndRunFromACopy(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dirs, err := filepath.Glob("*/main.go")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, m := range dirs {
		name := filepath.Dir(m)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := filepath.Glob(filepath.Join(name, "*.go"))
			require.NoError(t, err)
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				require.NotContains(t, string(b), "pgmimeo/internal/", "%s imports an internal package", f)
				require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644))
			}
			writeModule(t, dir, name, root)
			goCmd(t, dir, "mod", "tidy")
			goCmd(t, dir, "build", "-o", filepath.Join(dir, "example"), ".")
			if name == "quickstart" {
				out, err := exec.Command(filepath.Join(dir, "example"), "-rows", "2000").CombinedOutput()
				require.NoError(t, err, "%s", out)
				require.Contains(t, string(out), "Stopped the throwaway server.")
			}
		})
	}
}

// writeModule writes the go.mod of a module example.com/name in dir that
// takes pgmimeo from the checkout at root, at the checkout's Go version.
func writeModule(t *testing.T, dir, name, root string) {
	t.Helper()
	goVersion := ""
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	for _, l := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			goVersion = v
		}
	}
	gomod := "module example.com/" + name + "\n\ngo " + goVersion + "\n\n" +
		"require github.com/pgmimeo/pgmimeo v0.0.0\n\nreplace github.com/pgmimeo/pgmimeo => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
}

func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), out)
}
