package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	points      = flag.Int("points", 8, "fleetd kill points to try (make chaos: 100)")
	faultPoints = flag.Int("fault-points", 2, "points to try of each other fault (make chaos: 20)")
	seed        = flag.Uint64("seed", 0, "random seed (0: from the clock)")
	resultsFile = flag.String("results", "", "write the figures as a section of this markdown file (bench/RESULTS.md)")
)

// fleetdBin is the agent under test, built once by TestMain.
var fleetdBin string

func TestMain(m *testing.M) {
	flag.Parse()
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
	start := time.Now()
	code := m.Run()
	if *resultsFile != "" {
		if err := writeResults(*resultsFile, time.Since(start)); err != nil {
			fmt.Fprintln(os.Stderr, "write results:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// testSeed returns the run's random seed and logs it.
func testSeed(t *testing.T) uint64 {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
