package replication_test

import (
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/pgmimeo/pgmimeo"

// imports lists, for every package of the module, the packages of the
// module it imports (tests excluded), from go list.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	require.NoError(t, err)
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module+"/")
		m[pkg] = nil
		for _, imp := range f[1:] {
			if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				m[pkg] = append(m[pkg], rest)
			}
		}
	}
	return m
}

// TestImportRules asserts the layering (see the package documentation):
// internal imports no public package; replication imports only internal;
// the kinds import replication and internal, and no other kind: what dml,
// logdel and dml/export share is dml's internal key-apply package, and
// logdel is dml with Config.KeepDeleted set, through dml's public API only.
func TestImportRules(t *testing.T) {
	kinds := []string{"snapshot", "incremental", "dml", "logdel", "dml/export"}
	isKind := func(p string) bool {
		for _, k := range kinds {
			if p == k {
				return true
			}
		}
		return false
	}
	allowed := map[string]bool{"logdel -> dml": true}
	var bad []string
	for pkg, imps := range imports(t) {
		for _, imp := range imps {
			edge := pkg + " -> " + imp
			switch {
			case strings.HasPrefix(pkg, "internal/") && !strings.HasPrefix(imp, "internal/"):
				bad = append(bad, edge+": internal imports a public package")
			case pkg == "replication" && !strings.HasPrefix(imp, "internal/"):
				bad = append(bad, edge+": replication imports only internal")
			case strings.HasPrefix(pkg, "replication/") && isKind(imp):
				bad = append(bad, edge+": nothing under replication imports a kind; the kinds are passed in as values")
			case pkg == "logdel" && strings.Contains(imp, "/internal/") && strings.HasPrefix(imp, "dml/"):
				bad = append(bad, edge+": logdel uses dml's public API only")
			case strings.HasPrefix(pkg, "dml/internal/") && isKind(imp):
				bad = append(bad, edge+": the shared apply machinery imports no kind")
			case isKind(pkg) && isKind(imp) && !allowed[edge]:
				bad = append(bad, edge+": a kind imports another kind")
			case (strings.HasPrefix(imp, "examples/") || strings.HasPrefix(imp, "cmd/")) && !strings.HasPrefix(imp, pkg+"/internal/"):
				bad = append(bad, edge+": nothing imports a command or an example (but a command its own internal packages)")
			}
		}
	}
	sort.Strings(bad)
	require.Empty(t, bad)
}

// TestNoInternalTypesInTheAPI: nothing replication exports names a type of
// an internal package, so go doc shows users every field they get.
func TestNoInternalTypesInTheAPI(t *testing.T) {
	cmd := exec.Command("go", "doc", "-all", ".")
	out, err := cmd.Output()
	require.NoError(t, err)
	internal := regexp.MustCompile(`\b(catalog|copypipe|rangecopy|sqltext|durable|dsn|jobctx|migrate|pgtest)\.[A-Z]\w*`)
	require.Empty(t, internal.FindAllString(string(out), -1))
}
