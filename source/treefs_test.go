package source_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// linkRepo is a fleet repo whose head holds nested folders, an executable
// and symbolic links: one inside the tree, one pointing out of it, one to a
// folder.
func linkRepo(t *testing.T) (*gittest.Repo, string) {
	t.Helper()
	r, _ := fleetRepo(t)
	r.Write("workloads/extra/deeper/model.yaml", "deep\n")
	for link, target := range map[string]string{
		"nodes/alias.yaml": "press-01.yaml",
		"escape.yaml":      "../../../../../../etc/passwd",
		"linked":           "workloads",
	} {
		if err := os.Symlink(target, filepath.Join(r.Dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return r, r.Commit("links")
}

// trees returns the head of linkRepo as every reader of the package hands
// it out: the agent's store, and Open in place and over the network.
func trees(t *testing.T) (map[string]fs.FS, *gittest.Repo, string) {
	t.Helper()
	ctx := context.Background()
	r, head := linkRepo(t)
	httpURL := gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name
	out := map[string]fs.FS{}
	for name, l := range map[string]source.Location{"agent-file": loc(t, gittest.FileURL(r.BareDir)), "agent-http": loc(t, httpURL)} {
		fsys, err := newGit(t, source.Config{Location: l}).Tree(ctx, head)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = fsys
	}
	for name, l := range map[string]source.Location{
		"open-worktree": loc(t, r.Dir), "open-bare": loc(t, r.BareDir), "open-http": loc(t, httpURL),
	} {
		repo, err := source.Open(ctx, l, source.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fsys, rev, err := repo.Tree("main")
		if err != nil {
			t.Fatal(err)
		}
		if rev != head {
			t.Fatalf("%s: Tree(main) at %s, want %s", name, rev, head)
		}
		out[name] = fsys
	}
	return out, r, head
}

func TestTreeFS(t *testing.T) {
	fss, r, head := trees(t)
	for name, fsys := range fss {
		t.Run(name, func(t *testing.T) {
			if err := fstest.TestFS(fsys, "fleet.yaml", "bin/hook.sh", "nodes/press-01.yaml", "nodes/alias.yaml",
				"workloads/extra/deeper/model.yaml", "escape.yaml", "linked"); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, fsys, "workloads/extra/deeper/model.yaml"); got != "deep\n" {
				t.Errorf("nested file = %q", got)
			}
			fi, err := fs.Stat(fsys, "bin/hook.sh")
			if err != nil || fi.Mode() != 0o555 {
				t.Errorf("bin/hook.sh: mode %v, %v; want -r-xr-xr-x", fi.Mode(), err)
			}
			checkLinks(t, fsys)
			// The blob ids are git's own.
			h, ok := fsys.(interface{ FileHash(string) (string, error) })
			if !ok {
				t.Fatal("no FileHash")
			}
			got, err := h.FileHash("nodes/press-01.yaml")
			if want := strings.TrimSpace(r.BareGit("rev-parse", head+":nodes/press-01.yaml")); err != nil || got != want {
				t.Errorf("FileHash = %s, %v; want %s", got, err, want)
			}
			// A folder lists sorted by name (git sorts "workloads" as "workloads/").
			des, err := fs.ReadDir(fsys, ".")
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, len(des))
			for i, de := range des {
				names[i] = de.Name()
			}
			if !slices.IsSorted(names) {
				t.Errorf("ReadDir(.) = %q, not sorted", names)
			}
		})
	}
}

// checkLinks: symbolic links are reported as such and never followed.
func checkLinks(t *testing.T, fsys fs.FS) {
	t.Helper()
	for link, target := range map[string]string{
		"nodes/alias.yaml": "press-01.yaml",
		"escape.yaml":      "../../../../../../etc/passwd",
		"linked":           "workloads",
	} {
		for op, stat := range map[string]func(string) (fs.FileInfo, error){
			"Stat":  func(n string) (fs.FileInfo, error) { return fs.Stat(fsys, n) },
			"Lstat": func(n string) (fs.FileInfo, error) { return fs.Lstat(fsys, n) },
		} {
			fi, err := stat(link)
			if err != nil || fi.Mode() != fs.ModeSymlink|0o777 || fi.Size() != int64(len(target)) {
				t.Errorf("%s(%s) = %v, %v; want a symbolic link of size %d", op, link, fi, err, len(target))
			}
		}
		if got, err := fs.ReadLink(fsys, link); err != nil || got != target {
			t.Errorf("ReadLink(%s) = %q, %v; want %q", link, got, err, target)
		}
		_, err := fs.ReadFile(fsys, link)
		if !errors.Is(err, source.ErrSymlink) || !strings.Contains(err.Error(), link) {
			t.Errorf("ReadFile(%s) = %v, want ErrSymlink naming the path", link, err)
		}
		f, err := fsys.Open(link)
		if err != nil {
			t.Fatalf("Open(%s): %v", link, err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if len(data) > 0 || !errors.Is(err, source.ErrSymlink) || !strings.Contains(err.Error(), link) {
			t.Errorf("reading %s through Open = %q, %v; want nothing and ErrSymlink naming the path", link, data, err)
		}
	}
	if _, err := fs.ReadLink(fsys, "fleet.yaml"); err == nil {
		t.Error("ReadLink(fleet.yaml) of a regular file succeeded")
	}
	// A path through a linked folder does not exist, and says why.
	_, err := fs.ReadFile(fsys, "linked/detector.yaml")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "linked is a symbolic link") {
		t.Errorf("ReadFile(linked/detector.yaml) = %v, want ErrNotExist naming the link", err)
	}
}

// TestSpecRefusesLinks: the spec reader reports a linked spec file as an
// error in that file, not as a failure to read the revision.
func TestSpecRefusesLinks(t *testing.T) {
	r, _ := linkRepo(t)
	r.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01}\n")
	r.Remove("nodes/press-02.yaml")
	r.Remove("groups/line-a.yaml")
	r.Remove("workloads")
	head := r.Commit("valid apart from the link")
	fsys, err := newGit(t, source.Config{Location: loc(t, r.BareDir)}).Tree(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	_, err = spec.Parse(fsys)
	var se *spec.Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "nodes/alias.yaml") || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Parse = %v, want a spec error naming nodes/alias.yaml as a link", err)
	}
}
