package usb_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/sticktest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/usb"
)

// site is a fleet of three nodes on two lines, and its images.
type site struct {
	*sticktest.Fleet
	base, extra string // base runs everywhere, extra on line b
	rev         string
	central     source.Location
}

func newSite(t *testing.T) *site {
	t.Helper()
	host := ocitest.NewRegistry(t)
	s := &site{Fleet: sticktest.NewFleet(t, host)}
	s.base = ocitest.RandomImage(t, host, "models/base")
	s.extra = ocitest.RandomImage(t, host, "models/extra")
	s.Sign(s.base)
	s.Sign(s.extra)
	s.Node("n1", map[string]string{"line": "a"})
	s.Node("n2", map[string]string{"line": "b"})
	s.Node("n3", map[string]string{"line": "b"})
	s.Workload("base", s.base)
	s.Workload("extra", s.extra)
	s.Group("line-a", "line=a", "base")
	s.Group("line-b", "line=b", "base", "extra")
	s.rev = s.Commit("first")
	var err error
	if s.central, err = source.ParseLocation(gittest.FileURL(s.Repo.BareDir), source.Auth{}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) export(t *testing.T, out string, mod func(*usb.ExportConfig)) (*usb.Manifest, error) {
	t.Helper()
	cfg := usb.ExportConfig{Repo: s.central, Out: out}
	if mod != nil {
		mod(&cfg)
	}
	return usb.Export(t.Context(), cfg)
}

// verify checks every image of the stick offline with the node's keys.
func verify(t *testing.T, st *usb.Stick, keys map[string][]byte) {
	t.Helper()
	layout, err := image.OpenLayout(st.ImagesPath())
	if err != nil {
		t.Fatal(err)
	}
	defer layout.Close()
	v := image.NewLayoutVerifier(keys, layout)
	for _, img := range st.Manifest.Images {
		if _, err := v.VerifyImage(t.Context(), img.Ref, nil, nil, 1); err != nil {
			t.Errorf("image %s on the stick: %v", img.Ref, err)
		}
	}
}

func TestExportWritesAStickNodesCanRead(t *testing.T) {
	s := newSite(t)
	for _, fs := range []sticktest.FS{sticktest.Ext4, sticktest.Vfat} {
		t.Run(string(fs), func(t *testing.T) {
			stick := sticktest.New(t, fs, 64, "")
			stick.Mount(filepath.Join(t.TempDir(), "STICK"))
			m, err := s.export(t, stick.Dir, func(c *usb.ExportConfig) { c.Selectors = []string{"line=a"} })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Targets, []string{"n1"}) || len(m.Images) != 1 || m.Images[0].Ref != s.base || len(m.Images[0].Signatures) != 2 {
				t.Fatalf("manifest: targets %v, images %+v; want n1 running %s with 2 signatures", m.Targets, m.Images, s.base)
			}
			st, err := usb.Open(filepath.Join(stick.Dir, usb.Dir))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := image.LoadKeyDir(s.TrustDir)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, st, keys)
			repo, err := source.LocalRepository(st.RepoPath())
			if err != nil {
				t.Fatal(err)
			}
			g, err := source.New(source.Config{Location: repo, Dir: t.TempDir()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if head, err := g.Head(t.Context()); err != nil || head != s.rev {
				t.Fatalf("stick's branch head %s, %v; want %s", head, err, s.rev)
			}
			// Taken out and checked as a filesystem: nothing is damaged.
			stick.Unmount()
			if out, err := stick.Fsck(); err != nil {
				t.Errorf("fsck after export: %v\n%s", err, out)
			}
		})
	}
}

func TestExportSinceStatusCarriesOnlyWhatNodesLack(t *testing.T) {
	s := newSite(t)
	// n2 and n3 run the first revision: both images.
	for _, n := range []string{"n2", "n3"} {
		w, err := source.NewStatusWriter(source.StatusConfig{Location: s.central, Node: n, Dir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep := &status.NodeStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Meta{Name: n},
			Status: status.Status{AppliedRevision: s.rev, ObservedRevision: s.rev, LastSeen: time.Now().UTC(),
				Workloads: []status.Workload{{Name: "base", Image: s.base, State: "running"}, {Name: "extra", Image: s.extra, State: "running"}}}}
		if err := w.Report(t.Context(), rep); err != nil {
			t.Fatal(err)
		}
	}
	// A new model version: the old one's layers plus a 1 MiB one.
	img := imageWithExtraLayer(t, s.Registry, s.extra)
	s.Sign(img)
	s.Workload("extra", img)
	rev2 := s.Commit("extra v2")

	full, err := s.export(t, t.TempDir(), func(c *usb.ExportConfig) { c.Selectors = []string{"line=b"} })
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	delta, err := s.export(t, out, func(c *usb.ExportConfig) { c.Selectors = []string{"line=b"}; c.SinceStatus = true })
	if err != nil {
		t.Fatal(err)
	}
	if delta.Revision != rev2 || delta.Delta == nil || delta.Delta.Have["n2"] != s.rev || len(delta.Delta.OmittedBlobs) == 0 {
		t.Fatalf("delta manifest %+v", delta.Delta)
	}
	size := func(m *usb.Manifest) (n int64) {
		for _, f := range m.Files {
			n += f.Size
		}
		return n
	}
	if size(delta) >= size(full) {
		t.Errorf("delta stick %d bytes, full %d: want smaller", size(delta), size(full))
	}
	for _, b := range delta.Delta.OmittedBlobs {
		if _, err := os.Stat(filepath.Join(out, usb.Dir, "images", "blobs", "sha256", strings.TrimPrefix(b, "sha256:"))); err == nil {
			t.Errorf("delta stick holds omitted blob %s", b)
		}
	}
	st, err := usb.Open(filepath.Join(out, usb.Dir))
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		return strings.TrimSpace(gittest.Git(t, st.RepoPath(), append([]string{"-c", "safe.directory=*"}, args...)...))
	}
	if got := strings.Fields(git("rev-list", "main")); !slices.Equal(got, []string{rev2, s.rev}) {
		t.Errorf("delta history %v, want [%s %s]", got, rev2, s.rev)
	}
}

func TestExportRefusesAStickTooSmall(t *testing.T) {
	s := newSite(t)
	big, err := random.Image(24<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := ocitest.Push(t, big, s.Registry+"/models/big")
	s.Sign(ref)
	s.Workload("base", ref)
	s.Commit("big model")
	stick := sticktest.New(t, sticktest.Ext4, 16, "")
	stick.Mount(filepath.Join(t.TempDir(), "STICK"))
	_, err = s.export(t, stick.Dir, nil)
	if !errors.Is(err, usb.ErrNoSpace) {
		t.Fatalf("export onto a 16 MiB stick = %v, want ErrNoSpace", err)
	}
	if _, err := os.Stat(filepath.Join(stick.Dir, usb.Dir, usb.ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused export left a manifest: %v", err)
	}
}

// imageWithExtraLayer pushes base plus one random 1 MiB layer.
func imageWithExtraLayer(t *testing.T, host, base string) string {
	t.Helper()
	ref, err := name.NewDigest(base, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := random.Layer(1<<20, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	return ocitest.Push(t, img, host+"/models/extra")
}
