package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/content"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/gitfleet/gitfleet/fault"
)

// echoLayout writes the echo image into a fresh OCI image layout, as an
// export puts it on a stick, and returns the layout's folder.
func echoLayout(t *testing.T) string {
	t.Helper()
	ref, err := name.NewDigest(echo.ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "images")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

func layerPath(dir string) string {
	return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(echo.layer, "sha256:"))
}

func TestPullLayoutImportsWithoutARegistryAndRuns(t *testing.T) {
	e := setup(t)
	dir := echoLayout(t)
	before := reg.requests.Load()
	if err := e.c.PullLayout(t.Context(), echo.ref, dir); err != nil {
		t.Fatal(err)
	}
	if got := reg.requests.Load() - before; got != 0 {
		t.Errorf("import made %d registry requests, want none", got)
	}
	d := desired("imported", 18480, nil)
	e.run(t, d, "rev1")
	e.only(t, d)
	ls, err := e.c.client.LeasesService().List(e.c.ns(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Errorf("leases after import: %v, want none", ls)
	}
	// The image survives containerd's garbage collection: its manifest
	// holds its blobs.
	if err := e.c.PullLayout(t.Context(), echo.ref, t.TempDir()); err != nil {
		t.Errorf("import of an image already there read the layout: %v", err)
	}
}

func TestPullLayoutRefusesBadLayouts(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  string
	}{
		{"tampered layer", func(t *testing.T, dir string) {
			b, err := os.ReadFile(layerPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0xff
			if err := os.WriteFile(layerPath(dir), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "does not match its digest"},
		{"missing layer", func(t *testing.T, dir string) {
			if err := os.Remove(layerPath(dir)); err != nil {
				t.Fatal(err)
			}
		}, "neither in the layout nor on this node"},
		{"truncated layer", func(t *testing.T, dir string) {
			if err := os.Truncate(layerPath(dir), 100); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"layer linked out of the layout", func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "secret")
			b, _ := os.ReadFile(layerPath(dir))
			if err := os.WriteFile(outside, b, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Remove(layerPath(dir))
			if err := os.Symlink(outside, layerPath(dir)); err != nil {
				t.Fatal(err)
			}
		}, "link"},
		{"missing manifest", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(echo.ref[strings.LastIndex(echo.ref, "@")+1:], "sha256:")))
		}, "not in the layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := echoLayout(t)
			tc.spoil(t, dir)
			err := e.c.PullLayout(t.Context(), echo.ref, dir)
			if err == nil || fault.ClassOf(err) != fault.Refused || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PullLayout = %v (class %v), want a refusal saying %q", err, fault.ClassOf(err), tc.want)
			}
			ctx := e.c.ns(t.Context())
			if _, err := e.c.client.GetImage(ctx, echo.ref); err == nil {
				t.Error("a refused import left an image record")
			}
			cs := e.c.client.ContentStore()
			if _, err := cs.Info(ctx, digest.Digest(echo.layer)); err == nil {
				t.Error("a refused import left the layer in the content store")
			}
			var ingests []content.Status
			if ingests, err = cs.ListStatuses(ctx); err != nil {
				t.Fatal(err)
			}
			for _, st := range ingests {
				if strings.Contains(st.Ref, strings.TrimPrefix(echo.layer, "sha256:")) && tc.name == "tampered layer" {
					t.Errorf("tampered blob's ingest %s kept", st.Ref)
				}
			}
		})
	}
}
