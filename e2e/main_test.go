// Package e2e runs fleetd, built from this tree, against the real parts: a
// git server (git http-backend), Debian's docker-registry, and a private
// containerd with runc. Tests run as root.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fleetdBin is the agent under test and fleetctlBin the operator's CLI,
// built once by TestMain.
var fleetdBin, fleetctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitfleet-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fleetdBin = filepath.Join(dir, "fleetd")
	fleetctlBin = filepath.Join(dir, "fleetctl")
	for bin, pkg := range map[string]string{fleetdBin: "./cmd/fleetd", fleetctlBin: "./cmd/fleetctl"} {
		build := exec.Command("go", "build", "-o", bin, "github.com/gitfleet/gitfleet/"+pkg[2:])
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
