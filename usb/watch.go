package usb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of WatchConfig.
const (
	DefaultQuiet  = 500 * time.Millisecond
	DefaultRescan = 30 * time.Second
)

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Roots are the folders sticks are mounted under (/media, /run/media).
	// A stick's gitfleet/ folder is found in a root, or one or two folders
	// down (/media/<label>/gitfleet, /media/<user>/<label>/gitfleet).
	Roots []string
	// Quiet is how long a stick must stay unchanged before it is handed
	// over. Default 500ms.
	Quiet time.Duration
	// Rescan is the slow tick that looks again whatever the notifications
	// said. Default 30s.
	Rescan time.Duration
	Log    *slog.Logger
}

// Validate fills in defaults and checks the roots.
func (c *WatchConfig) Validate() error {
	if c.Quiet <= 0 {
		c.Quiet = DefaultQuiet
	}
	if c.Rescan <= 0 {
		c.Rescan = DefaultRescan
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if len(c.Roots) == 0 {
		return errors.New("usb: no root to watch")
	}
	var errs []error
	for i, r := range c.Roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("usb root %s: %w", r, err))
			continue
		}
		c.Roots[i] = abs
	}
	return errors.Join(errs...)
}

// Found is called with the path of a stick's gitfleet/ folder once it has
// been quiet for WatchConfig.Quiet. Calls come one at a time: the watcher
// hands over no other stick until found returns.
type Found func(ctx context.Context, dir string)

// tracker decides when a stick is handed over. It is driven by change
// notifications and a timer, and never reads the clock itself, so the
// quiet period is tested with testing/synctest.
type tracker struct {
	cfg    WatchConfig
	sticks map[string]*stick // by the path of gitfleet/
	busy   bool              // a stick is being handed over
	// waiting notes sticks without manifest.json already logged.
	waiting map[string]bool
}

type stick struct {
	mount    uint64    // the id of the mount it is on
	deadline time.Time // zero: nothing pending
	handled  string    // the manifest identity last handed over
	running  string    // the identity being handed over
}

// event is a change at path; rescan asks to look for sticks again (a
// folder or mount appeared or went, or notifications were lost).
type event struct {
	path   string
	rescan bool
}

// done says the stick at dir was handed over.
type done struct{ dir string }

// loop runs the tracker until ctx ends. scan lists the gitfleet/ folders
// present now; events and a timer drive it.
func (t *tracker) loop(ctx context.Context, events <-chan event, scan func() []string, found Found) {
	results := make(chan done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	t.refresh(scan(), "", time.Now())
	for {
		t.handOver(ctx, found, results)
		t.arm(timer)
		select {
		case <-ctx.Done():
			timer.Stop()
			if t.busy {
				<-results
			}
			return
		case ev := <-events:
			if ev.rescan {
				t.refresh(scan(), ev.path, time.Now())
			} else {
				t.touch(ev.path, time.Now())
			}
		case <-timer.C:
		case d := <-results:
			t.busy = false
			if s, ok := t.sticks[d.dir]; ok {
				s.handled, s.running = s.running, ""
			}
		}
	}
}

// refresh updates the set of sticks from a scan: new ones and the one
// under changed start their quiet period again; vanished ones are
// forgotten (so a stick plugged in again is handed over again).
func (t *tracker) refresh(present []string, changed string, now time.Time) {
	seen := map[string]bool{}
	for _, dir := range present {
		seen[dir] = true
		mnt := mountID(dir)
		s, ok := t.sticks[dir]
		if !ok || s.mount != mnt {
			if !ok {
				s = &stick{}
				t.sticks[dir] = s
			}
			s.mount = mnt
			t.cfg.Log.Info("usb stick seen, waiting until it is quiet", "dir", dir, "quiet", t.cfg.Quiet)
			s.deadline = now.Add(t.cfg.Quiet)
			continue
		}
		if changed != "" && within(changed, dir) {
			s.deadline = now.Add(t.cfg.Quiet)
		}
	}
	for dir, s := range t.sticks {
		if !seen[dir] && s.running == "" {
			t.cfg.Log.Info("usb stick gone", "dir", dir)
			delete(t.sticks, dir)
			delete(t.waiting, dir)
		}
	}
}

// touch starts the quiet period again for the stick holding path.
func (t *tracker) touch(path string, now time.Time) {
	for dir, s := range t.sticks {
		if within(path, dir) {
			s.deadline = now.Add(t.cfg.Quiet)
		}
	}
}

// handOver starts found for the first stick whose quiet period is over
// and whose manifest was not handed over yet.
func (t *tracker) handOver(ctx context.Context, found Found, results chan<- done) {
	if t.busy {
		return
	}
	now := time.Now()
	for dir, s := range t.sticks {
		if s.deadline.IsZero() || now.Before(s.deadline) {
			continue
		}
		s.deadline = time.Time{}
		id, err := identity(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if !t.waiting[dir] {
				t.cfg.Log.Info("usb stick has no "+ManifestFile+" yet (export unfinished?), waiting", "dir", dir)
				t.waiting[dir] = true
			}
			continue
		case err != nil:
			id = "unreadable: " + err.Error() // handed over once: the sync says why
		}
		if id == s.handled {
			continue
		}
		s.running, t.busy = id, true
		go func() {
			found(ctx, dir)
			results <- done{dir}
		}()
		return
	}
}

// arm sets timer to the earliest pending deadline; while a stick is being
// handed over the end of that wakes the loop instead.
func (t *tracker) arm(timer *time.Timer) {
	timer.Stop()
	if t.busy {
		return
	}
	var next time.Time
	for _, s := range t.sticks {
		if !s.deadline.IsZero() && (next.IsZero() || s.deadline.Before(next)) {
			next = s.deadline
		}
	}
	if !next.IsZero() {
		timer.Reset(max(time.Until(next), 0))
	}
}

// identity is the sha256 of the stick's manifest.json and the id of the
// mount it is on: a new export or a new mount (the stick pulled out and
// plugged in again, however fast) makes a new stick, a node's own writes
// do not.
func identity(dir string) (string, error) {
	mnt := mountID(dir)
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxManifestBytes)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s@%d", hex.EncodeToString(h.Sum(nil)), mnt), nil
}

// mountID is the id of the mount dir is on: the unique one (never reused,
// Linux 6.8 and later) where the kernel has it, else the plain one, which
// a new mount may reuse; 0 if the kernel cannot say.
func mountID(dir string) uint64 {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_MNT_ID_UNIQUE, &stx)
	if err == nil && stx.Mask&unix.STATX_MNT_ID_UNIQUE != 0 {
		return stx.Mnt_id
	}
	if err := unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_MNT_ID, &stx); err == nil && stx.Mask&unix.STATX_MNT_ID != 0 {
		return stx.Mnt_id
	}
	return 0
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// scanRoots lists the gitfleet/ folders in roots (at most two folders
// down). Before it lists a folder it calls watch (when not nil) with it:
// the roots, the folders down to that depth, and everything in a
// gitfleet/ folder, which are the folders a watcher must watch to see a
// stick appear or change. Watching before listing leaves no gap: a
// folder made after the listing is reported by its watch, one made
// before is in the listing. Symbolic links are not followed.
func scanRoots(roots []string, watch func(dir string)) (sticks []string) {
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if watch != nil {
			watch(dir)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if e.Name() == Dir {
				sticks = append(sticks, p)
				if e.IsDir() && watch != nil {
					watchTree(p, watch)
				}
				continue
			}
			if e.IsDir() && depth < 2 {
				walk(p, depth+1)
			}
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return sticks
}

// watchTree calls watch with dir and each folder below it, each before it
// is listed, without following links.
func watchTree(dir string, watch func(dir string)) {
	watch(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			watchTree(filepath.Join(dir, e.Name()), watch)
		}
	}
}
