package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fleetdBin is the agent under test, built once by TestMain.
var fleetdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitfleet-chaos-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fleetdBin = filepath.Join(dir, "fleetd")
	build := exec.Command("go", "build", "-o", fleetdBin, "github.com/gitfleet/gitfleet/cmd/fleetd")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleetd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
