package cli

import (
	"fmt"
	"runtime/debug"
)

// Version describes the running binary for --version: the module version
// (or "devel"), the commit it was built from when the build recorded one,
// and the Go version.
func Version(prog string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return prog + " (no build information)"
	}
	version := info.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		return fmt.Sprintf("%s %s (commit %s%s, %s)", prog, version, rev, modified, info.GoVersion)
	}
	return fmt.Sprintf("%s %s (%s)", prog, version, info.GoVersion)
}

// IsVersion reports whether args ask only for the version.
func IsVersion(args []string) bool {
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "version", "-version", "--version":
		return true
	}
	return false
}
