package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// How a workload's mounts reach its container without a link planted on
// the host leading it elsewhere (say /var/lib/models/x -> /etc):
//
//   - the mount's root is the outermost of fleet.yaml's spec.hostPaths that
//     holds its source; the root itself is the operator's and is opened as
//     named;
//   - below the root, the source is opened one component at a time with
//     O_PATH|O_NOFOLLOW relative to the previous one: a component that is a
//     symbolic link refuses the mount, naming it; so does a last component
//     that is neither a directory nor a regular file;
//   - the agent binds the opened file itself (/proc/self/fd/N) onto a
//     staging path, <RunDir>/<instance>/mounts/<container ID>/<n>, and the OCI
//     spec names only that staging path: runc binds an object already
//     checked, so a link swapped in after the check changes nothing;
//   - the staging binds are made again before every task the agent creates
//     (Run, the restarts of Run and of the Supervisor), so each start checks
//     the host as it is then; Remove takes them down.
//
// The roots and sources are kept in the container's LabelMounts, so an
// agent that restarts can check them again without the spec.

// mountRef is one mount as LabelMounts records it.
type mountRef struct {
	Root   string `json:"root"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// MountError refuses a mount whose source is not an allowed host path or
// cannot be opened without following a link.
type MountError struct {
	Workload string
	Source   string
	Target   string
	// Component is the path that failed: the link, the missing or wrong
	// kind of file; empty when the source is below no allowed host path.
	Component string
	Reason    string
}

// Fault says a refused mount is the workload's own failure: it is not
// retried until the spec changes.
func (e *MountError) Fault() fault.Class { return fault.Refused }

func (e *MountError) Error() string {
	if e.Component == "" {
		return fmt.Sprintf("workload %s: mount %s -> %s: %s", e.Workload, e.Source, e.Target, e.Reason)
	}
	return fmt.Sprintf("workload %s: mount %s -> %s: %s %s", e.Workload, e.Source, e.Target, e.Component, e.Reason)
}

// mountRefs picks each mount's root among hostPaths: the outermost one
// that holds its source.
func mountRefs(workload string, mounts []spec.Mount, hostPaths []string) ([]mountRef, error) {
	refs := make([]mountRef, len(mounts))
	for i, m := range mounts {
		root := ""
		for _, h := range hostPaths {
			h = filepath.Clean(h)
			if !filepath.IsAbs(h) || h == "/" {
				continue
			}
			if (m.Source == h || strings.HasPrefix(m.Source, h+"/")) && (root == "" || len(h) < len(root)) {
				root = h
			}
		}
		if root == "" || path.Clean(m.Source) != m.Source {
			return nil, &MountError{Workload: workload, Source: m.Source, Target: m.Target,
				Reason: m.Source + " is not below one of fleet.yaml's spec.hostPaths (" + strings.Join(hostPaths, ", ") + ")"}
		}
		refs[i] = mountRef{Root: root, Source: m.Source, Target: m.Target}
	}
	return refs, nil
}

// mountsLabel writes refs as LabelMounts.
func mountsLabel(refs []mountRef) string {
	if len(refs) == 0 {
		return ""
	}
	b, _ := json.Marshal(refs) // strings only: cannot fail
	return string(b)
}

// parseMountsLabel reads LabelMounts.
func parseMountsLabel(v string) ([]mountRef, error) {
	if v == "" {
		return nil, nil
	}
	var refs []mountRef
	if err := json.Unmarshal([]byte(v), &refs); err != nil {
		return nil, fmt.Errorf("label %s: %w", LabelMounts, err)
	}
	return refs, nil
}

// stagePath is where mount n of container id is staged.
func (c *Containerd) stagePath(id string, n int) string {
	return filepath.Join(c.mountDir(), id, strconv.Itoa(n))
}

// openBeneath opens source, which is root or below it, without following a
// link below root. The file is opened O_PATH: it can be bound, not read.
func openBeneath(root, source string) (f *os.File, component string, reason string) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, root, "cannot be opened: " + errText(err)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(source, root), "/")
	at := root
	var parts []string
	if rel != "" {
		parts = strings.Split(rel, "/")
	}
	for _, part := range parts {
		at = at + "/" + part
		if part == "" || part == "." || part == ".." {
			unix.Close(fd)
			return nil, at, "is not a clean path"
		}
		next, err := unix.Openat(fd, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return nil, at, "cannot be opened: " + errText(err)
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, at, "cannot be read: " + errText(err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			unix.Close(fd)
			return nil, at, "is a symbolic link: mount sources are resolved without following links"
		case unix.S_IFREG:
			if at != source {
				unix.Close(fd)
				return nil, at, "is not a directory"
			}
		default:
			unix.Close(fd)
			return nil, at, "is neither a directory nor a regular file"
		}
	}
	return os.NewFile(uintptr(fd), source), "", ""
}

func errText(err error) string {
	if errors.Is(err, unix.ENOENT) {
		return "does not exist"
	}
	return err.Error()
}

// stageMounts binds container id's mount sources, opened afresh beneath
// their roots, onto their staging paths, replacing earlier binds.
func (c *Containerd) stageMounts(workload, id string, refs []mountRef) error {
	if err := c.unstageMounts(id); err != nil {
		return err
	}
	if len(refs) == 0 {
		return nil
	}
	dir := filepath.Join(c.mountDir(), id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stage mounts of %s: %w", id, err)
	}
	for i, r := range refs {
		f, component, reason := openBeneath(r.Root, r.Source)
		if f == nil {
			return &MountError{Workload: workload, Source: r.Source, Target: r.Target, Component: component, Reason: reason}
		}
		err := c.bindStaged(f, c.stagePath(id, i))
		f.Close()
		if err != nil {
			return fmt.Errorf("workload %s: mount %s -> %s: %w", workload, r.Source, r.Target, err)
		}
	}
	return nil
}

// bindStaged binds the opened file f onto staged, creating the mount point.
func (c *Containerd) bindStaged(f *os.File, staged string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(staged, 0o700); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
	} else {
		mp, err := os.OpenFile(staged, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		mp.Close()
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, staged, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind onto %s: %w", staged, err)
	}
	return nil
}

// unstageMounts takes down container id's staging binds and their
// directory. It never deletes below a mount point: each entry is unmounted
// first and then removed alone.
func (c *Containerd) unstageMounts(id string) error {
	dir := filepath.Join(c.mountDir(), id)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unstage mounts of %s: %w", id, err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		// Binds may be stacked (an agent that died mid-stage): unmount until
		// nothing is mounted there.
		for {
			err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
			if err == nil {
				continue
			}
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			}
			break
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unstage %s: %w", p, err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepMounts takes down the staging binds of containers that no longer
// exist (deleted by hand, or while an agent was down).
func (c *Containerd) sweepMounts(ctx context.Context) error {
	return c.sweepMountsIf(func(id string) bool {
		_, err := c.client.LoadContainer(c.ns(ctx), id)
		return errdefs.IsNotFound(err)
	})
}

// sweepMountsIf takes down the staging binds of the containers gone says.
func (c *Containerd) sweepMountsIf(gone func(id string) bool) error {
	entries, err := os.ReadDir(c.mountDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep mounts: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if gone(e.Name()) {
			errs = append(errs, c.unstageMounts(e.Name()))
		}
	}
	return errors.Join(errs...)
}
