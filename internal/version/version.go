// Package version says which build of gitfleet is running: the version a
// release build stamps in with the linker, else what the Go toolchain
// recorded (module version, VCS revision and time, a modified work tree).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set by release builds:
//
//	go build -ldflags "-X github.com/gitfleet/gitfleet/internal/version.version=v0.2.0"
var version string

// Info is what a binary knows about its build.
type Info struct {
	Version  string // v0.2.0, a pseudo-version, or "(devel)"
	Revision string // VCS commit, when the build recorded one
	Time     string // commit time (RFC 3339), when recorded
	Modified bool   // the work tree had uncommitted changes
	Go       string // Go toolchain version
	Platform string // GOOS/GOARCH
}

// Get returns this binary's build information.
func Get() Info {
	in := Info{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if in.Version == "" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	return in
}

// String is the line --version prints, e.g.
// "fleetd v0.2.0 (commit 1a2b3c4d5e6f, 2026-11-30T07:04:00Z, go1.26.8 linux/arm64)".
func (in Info) String(program string) string {
	var parts []string
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if in.Modified {
			rev += "-dirty"
		}
		parts = append(parts, "commit "+rev)
	}
	if in.Time != "" {
		parts = append(parts, in.Time)
	}
	parts = append(parts, in.Go+" "+in.Platform)
	return fmt.Sprintf("%s %s (%s)", program, in.Version, strings.Join(parts, ", "))
}
