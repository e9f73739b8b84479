package usb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// Watcher finds USB sticks under mount roots and hands each one over once
// it has stopped changing.
//
// It learns of changes three ways: fsnotify on the roots, the folders down
// to two levels below them and everything inside a gitfleet/ folder (a
// folder copied in, an export written in place); the mount table
// (/proc/self/mountinfo signals a change with POLLPRI), since a stick
// mounted over an existing empty folder makes no fsnotify event; and a
// slow rescan in case either missed something.
type Watcher struct {
	cfg WatchConfig
}

// NewWatcher validates cfg.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Watcher{cfg: cfg}, nil
}

// Run watches until ctx ends and calls found for every stick that appears
// (or is there at the start) once it has been quiet for Quiet. A stick is
// handed over again only when its manifest.json changes (a new export) or
// after it was removed and came back; a node's own writes to it do not
// count. Run returns nil when ctx ends, after found has returned.
func (w *Watcher) Run(ctx context.Context, found Found) error {
	fw, err := fsnotify.NewBufferedWatcher(1024)
	if err != nil {
		return fmt.Errorf("usb: watch: %w", err)
	}
	defer fw.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan event, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	n := &notifier{w: fw, watched: map[string]bool{}}
	scan := func() []string { return n.scan(w.cfg.Roots) }
	wg.Go(func() { n.forward(ctx, events, w.cfg) })
	// The mount table is armed before the first scan, so that no mount
	// falls between the two.
	mounts, err := openMounts()
	if err != nil {
		w.cfg.Log.Warn("cannot watch the mount table; new mounts are found by the slow rescan", "err", err, "rescan", w.cfg.Rescan)
	} else {
		wg.Go(func() {
			defer mounts.Close()
			if err := watchMounts(ctx, mounts, events); err != nil {
				w.cfg.Log.Warn("mount table watch failed; new mounts are found by the slow rescan", "err", err, "rescan", w.cfg.Rescan)
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(w.cfg.Rescan)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				send(ctx, events, event{rescan: true})
			}
		}
	})
	w.cfg.Log.Info("watching for usb sticks", "roots", w.cfg.Roots, "quiet", w.cfg.Quiet)
	tr := &tracker{cfg: w.cfg, sticks: map[string]*stick{}, waiting: map[string]bool{}}
	tr.loop(ctx, events, scan, found)
	return nil
}

// notifier keeps the fsnotify watches and turns its events into the
// tracker's.
type notifier struct {
	w       *fsnotify.Watcher
	mu      sync.Mutex
	watched map[string]bool
}

// scan lists the sticks in roots, (re)adding a watch on each folder it
// lists before listing it, and drops the watches of folders gone. Adding
// again matters after a mount: the watch on the folder beneath a mount
// sees nothing of it.
func (n *notifier) scan(roots []string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := map[string]bool{}
	sticks := scanRoots(roots, func(d string) {
		keep[d] = true
		_ = n.w.Remove(d)
		if err := n.w.Add(d); err == nil {
			n.watched[d] = true
		}
	})
	for d := range n.watched {
		if !keep[d] {
			_ = n.w.Remove(d)
			delete(n.watched, d)
		}
	}
	return sticks
}

// forward passes fsnotify's events on. A change inside a gitfleet/ folder
// restarts its quiet period (a new folder there is watched too); anything
// else, or lost events, asks for a rescan.
func (n *notifier) forward(ctx context.Context, events chan<- event, cfg WatchConfig) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-n.w.Events:
			if !ok {
				return
			}
			inStick := insideStick(ev.Name)
			if inStick && ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					n.addTree(ev.Name)
				}
			}
			send(ctx, events, event{path: ev.Name, rescan: !inStick})
		case err, ok := <-n.w.Errors:
			if !ok {
				return
			}
			cfg.Log.Debug("fsnotify", "err", err)
			send(ctx, events, event{rescan: true})
		}
	}
}

// addTree watches dir and the folders below it that are not watched yet,
// each before it is listed.
func (n *notifier) addTree(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	watchTree(dir, func(d string) {
		if !n.watched[d] && n.w.Add(d) == nil {
			n.watched[d] = true
		}
	})
}

// insideStick reports whether path is below a gitfleet/ folder.
func insideStick(path string) bool {
	for d := filepath.Dir(path); d != filepath.Dir(d); d = filepath.Dir(d) {
		if filepath.Base(d) == Dir {
			return true
		}
	}
	return false
}

func send(ctx context.Context, ch chan<- event, ev event) {
	select {
	case ch <- ev:
	case <-ctx.Done():
	}
}

// mountTable is /proc/self/mountinfo opened with a plain system call:
// os.Open would register it with Go's network poller (the file can be
// polled), whose epoll would then take the change notifications poll(2)
// is to see.
type mountTable struct {
	fd   int
	last [sha256.Size]byte // the table as last read
}

// openMounts opens and reads the mount table: a change after this is
// reported by watchMounts.
func openMounts() (*mountTable, error) {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/self/mountinfo", Err: err}
	}
	m := &mountTable{fd: fd}
	if m.last, err = m.read(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return m, nil
}

func (m *mountTable) Close() error { return unix.Close(m.fd) }

// read reads the table from its start and returns its sha256. Reading it
// is also what a poll after a change compares against.
func (m *mountTable) read() ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if _, err := unix.Seek(m.fd, 0, io.SeekStart); err != nil {
		return sum, err
	}
	h := sha256.New()
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Read(m.fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return sum, err
		}
		if n == 0 {
			break
		}
		h.Write(buf[:n])
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// watchMounts sends a rescan each time the mount table changes: the
// kernel marks /proc/self/mountinfo with POLLPRI (and POLLERR) then. It
// returns when ctx ends.
func watchMounts(ctx context.Context, m *mountTable, events chan<- event) error {
	var stop [2]int
	if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	defer unix.Close(stop[0])
	var once sync.Once
	closeW := func() { once.Do(func() { unix.Close(stop[1]) }) }
	defer closeW()
	go func() {
		<-ctx.Done()
		closeW()
	}()
	for {
		fds := []unix.PollFd{
			{Fd: int32(m.fd), Events: unix.POLLPRI},
			{Fd: int32(stop[0]), Events: unix.POLLIN},
		}
		_, err := unix.Poll(fds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if fds[1].Revents != 0 || ctx.Err() != nil {
			return nil
		}
		// The kernel marks a change as seen when poll looks at it, even
		// when a signal then interrupts the call: after EINTR the table
		// itself says whether it changed.
		if errors.Is(err, unix.EINTR) || fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			now, err := m.read()
			if err != nil {
				return err
			}
			if now != m.last {
				m.last = now
				send(ctx, events, event{rescan: true})
			}
		}
	}
}
