package examples_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's "Use it in your service" program builds in a module of
// its own, as a user would paste it.
func TestReadmeServiceSnippetBuilds(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, section, found := strings.Cut(string(readme), "\n## Use it in your service\n")
	require.True(t, found, "README has no \"Use it in your service\" section")
	_, code, found := strings.Cut(section, "```go\n")
	require.True(t, found, "the section has no Go block")
	code, _, found = strings.Cut(code, "```\n")
	require.True(t, found)
	require.Less(t, strings.Count(code, "\n"), 30, "the snippet is under 30 lines")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644))
	writeModule(t, dir, "readme", root)
	goCmd(t, dir, "mod", "tidy")
	goCmd(t, dir, "vet", ".")
	goCmd(t, dir, "build", "-o", filepath.Join(dir, "service"), ".")
}
