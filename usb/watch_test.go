package usb

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// handovers records the sticks a tracker hands over, in order.
type handovers struct {
	mu   sync.Mutex
	dirs []string
	// block, when set, holds each handover until it is closed.
	block chan struct{}
}

func (h *handovers) found(ctx context.Context, dir string) {
	h.mu.Lock()
	h.dirs = append(h.dirs, dir)
	block := h.block
	h.mu.Unlock()
	if block != nil {
		<-block
	}
}

func (h *handovers) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.dirs)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startTracker runs a tracker over root in the bubble; events are sent by
// the test as a notifier would.
func startTracker(t *testing.T, root string, quiet time.Duration, h *handovers) chan<- event {
	cfg := WatchConfig{Roots: []string{root}, Quiet: quiet}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	events := make(chan event)
	ctx, cancel := context.WithCancel(t.Context())
	tr := &tracker{cfg: cfg, sticks: map[string]*stick{}, waiting: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		tr.loop(ctx, events, func() []string { return scanRoots(cfg.Roots, nil) }, h.found)
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return events
}

func TestTrackerWaitsForQuietBeforeHandingOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		quiet := 2 * time.Second
		h := &handovers{}
		events := startTracker(t, root, quiet, h)

		// A stick appears, nested as desktop automounters do, and is still
		// being written.
		dir := filepath.Join(root, "alice", "STICK", Dir)
		writeFile(t, filepath.Join(dir, "images", "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
		events <- event{path: filepath.Join(root, "alice"), rescan: true}
		writeFile(t, filepath.Join(dir, ManifestFile), `{"revision":"1"}`)
		for range 3 {
			time.Sleep(quiet - time.Millisecond)
			writeFile(t, filepath.Join(dir, "images", "blob"), "more")
			events <- event{path: filepath.Join(dir, "images", "blob")}
			synctest.Wait()
			if got := h.got(); len(got) != 0 {
				t.Fatalf("handed over %v while the stick was still changing", got)
			}
		}
		time.Sleep(quiet)
		synctest.Wait()
		if got := h.got(); !slices.Equal(got, []string{dir}) {
			t.Fatalf("handed over %v, want [%s] once quiet", got, dir)
		}

		// The node's own writes (a status ref) do not hand it over again.
		writeFile(t, filepath.Join(dir, RepoDir, "refs", "heads", "status", "n1"), "abc")
		events <- event{path: filepath.Join(dir, RepoDir, "refs", "heads", "status", "n1")}
		time.Sleep(3 * quiet)
		synctest.Wait()
		if got := h.got(); len(got) != 1 {
			t.Fatalf("handed over %v after the node's own write, want once", got)
		}

		// A new export on the same stick is a new stick.
		writeFile(t, filepath.Join(dir, ManifestFile), `{"revision":"2"}`)
		events <- event{path: filepath.Join(dir, ManifestFile)}
		time.Sleep(quiet + time.Millisecond)
		synctest.Wait()
		if got := h.got(); len(got) != 2 {
			t.Fatalf("handed over %v after a new export, want twice", got)
		}

		// Unplugged and plugged in again: handed over again.
		if err := os.RemoveAll(filepath.Join(root, "alice")); err != nil {
			t.Fatal(err)
		}
		events <- event{path: root, rescan: true}
		synctest.Wait()
		writeFile(t, filepath.Join(dir, ManifestFile), `{"revision":"2"}`)
		events <- event{path: root, rescan: true}
		time.Sleep(quiet + time.Millisecond)
		synctest.Wait()
		if got := h.got(); len(got) != 3 {
			t.Fatalf("handed over %v after unplug and replug, want 3 times", got)
		}
	})
}

func TestTrackerWaitsForTheManifestAndOneStickAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		quiet := time.Second
		h := &handovers{block: make(chan struct{})}
		events := startTracker(t, root, quiet, h)

		a := filepath.Join(root, "a", Dir)
		b := filepath.Join(root, "b", Dir)
		// a's export has not finished: no manifest yet.
		writeFile(t, filepath.Join(a, RepoDir, "HEAD"), "ref: refs/heads/main\n")
		writeFile(t, filepath.Join(b, ManifestFile), `{"b":1}`)
		events <- event{path: root, rescan: true}
		time.Sleep(quiet + time.Millisecond)
		synctest.Wait()
		if got := h.got(); !slices.Equal(got, []string{b}) {
			t.Fatalf("handed over %v, want only %s (a has no manifest)", got, b)
		}
		// a's export finishes while b is being handed over: a waits.
		writeFile(t, filepath.Join(a, ManifestFile), `{"a":1}`)
		events <- event{path: filepath.Join(a, ManifestFile)}
		time.Sleep(5 * quiet)
		synctest.Wait()
		if got := h.got(); len(got) != 1 {
			t.Fatalf("handed over %v while b was still being handled", got)
		}
		close(h.block)
		synctest.Wait()
		if got := h.got(); !slices.Equal(got, []string{b, a}) {
			t.Fatalf("handed over %v, want [%s %s]", got, b, a)
		}
	})
}

func TestScanRootsDepthAndLinks(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{
		Dir,            // the root is the stick
		"l1/" + Dir,    // /media/<label>/gitfleet
		"u/l2/" + Dir,  // /media/<user>/<label>/gitfleet
		"a/b/c/" + Dir, // too deep
	} {
		if err := os.MkdirAll(filepath.Join(root, d, "images"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "u"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	sticks := scanRoots([]string{root}, func(d string) { dirs = append(dirs, d) })
	slices.Sort(sticks)
	want := []string{filepath.Join(root, Dir), filepath.Join(root, "l1", Dir), filepath.Join(root, "u", "l2", Dir)}
	slices.Sort(want)
	if !slices.Equal(sticks, want) {
		t.Errorf("sticks %v, want %v", sticks, want)
	}
	if !slices.Contains(dirs, filepath.Join(root, "u", "l2", Dir, "images")) {
		t.Errorf("watched dirs %v miss the stick's images/", dirs)
	}
	if slices.Contains(dirs, filepath.Join(root, "a", "b", "c")) {
		t.Errorf("watched dirs %v go deeper than two levels", dirs)
	}
}

// A folder made in the moment between a scan's watch on its parent and
// the parent's listing must be found: the watch is added first, so what
// the listing misses the watch reports, and what the watch misses the
// listing holds. (Listing first lost a stick copied in while the watcher
// started: its folders were made between the listing and the watch.)
func TestScanWatchesAFolderBeforeListingIt(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "alice"), 0o755); err != nil {
		t.Fatal(err)
	}
	var watched []string
	sticks := scanRoots([]string{root}, func(d string) {
		watched = append(watched, d)
		if d == filepath.Join(root, "alice") {
			// copied in right after the watch on alice/ was added
			if err := os.MkdirAll(filepath.Join(d, "STICK", Dir, "images"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	})
	want := filepath.Join(root, "alice", "STICK", Dir)
	if !slices.Equal(sticks, []string{want}) {
		t.Fatalf("sticks %v, want [%s]", sticks, want)
	}
	for _, d := range []string{filepath.Join(root, "alice", "STICK"), want, filepath.Join(want, "images")} {
		if !slices.Contains(watched, d) {
			t.Errorf("%s is not watched (watched %v)", d, watched)
		}
	}
}
