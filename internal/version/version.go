// Package version is the version the module's commands report.
package version

import "runtime/debug"

// Version is set at link time with
// -ldflags "-X github.com/pgmimeo/pgmimeo/internal/version.Version=v1.2.3";
// when empty, String reports the module version the binary was built from.
var Version = ""

// String returns the version: Version, else the main module's version
// from the build information ("(devel)" for a build from a checkout),
// with the VCS revision when the build recorded one.
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
