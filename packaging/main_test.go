package packaging_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// releaseVersion is the version the test release is stamped with.
const releaseVersion = "v0.9.1"

// dist is the test release, built once by TestMain with `make release`.
var dist string

// repoRoot is the repository's root.
var repoRoot = func() string {
	p, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return p
}()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitfleet-release")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dist = filepath.Join(dir, "dist")
	cmd := exec.Command("make", "-s", "release", "DIST="+dist, "VERSION="+releaseVersion)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "make release: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
