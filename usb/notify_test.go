package usb

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/sticktest"
)

// runWatcher runs a real Watcher over root; handed-over sticks arrive on
// the returned channel.
func runWatcher(t *testing.T, root string) <-chan string {
	t.Helper()
	w, err := NewWatcher(WatchConfig{Roots: []string{root}, Quiet: 200 * time.Millisecond, Rescan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx, func(_ context.Context, dir string) { found <- dir }); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return found
}

// next waits for the next handover; the bound only stops a broken test.
func next(t *testing.T, found <-chan string, want string) {
	t.Helper()
	select {
	case got := <-found:
		if got != want {
			t.Fatalf("handed over %s, want %s", got, want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s was never handed over", want)
	}
}

func TestWatcherFindsAFolderCopiedIn(t *testing.T) {
	root := t.TempDir()
	found := runWatcher(t, root)
	dir := filepath.Join(root, "alice", "STICK", Dir)
	writeFile(t, filepath.Join(dir, "images", "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	writeFile(t, filepath.Join(dir, ManifestFile), `{}`)
	next(t, found, dir)
}

// A stick mounted over an existing empty folder makes no fsnotify event;
// the mount table tells. Pulled out (lazy unmount) and mounted again, it
// is handed over again.
func TestWatcherFindsAStickMountedOverAnEmptyFolder(t *testing.T) {
	content := t.TempDir()
	writeFile(t, filepath.Join(content, Dir, ManifestFile), `{"stick":1}`)
	writeFile(t, filepath.Join(content, Dir, "images", "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	s := sticktest.New(t, sticktest.Ext4, 16, content)

	root := t.TempDir()
	mnt := filepath.Join(root, "usb0")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	found := runWatcher(t, root)
	s.Mount(mnt)
	next(t, found, filepath.Join(mnt, Dir))

	s.Pull()
	s.Mount(mnt)
	next(t, found, filepath.Join(mnt, Dir))
}
