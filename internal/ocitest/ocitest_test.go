package ocitest_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

func getManifest(t *testing.T, digestRef string) *remote.Descriptor {
	t.Helper()
	ref, err := name.NewDigest(digestRef, name.Insecure)
	if err != nil {
		t.Fatalf("digest ref %q: %v", digestRef, err)
	}
	desc, err := remote.Get(ref, remote.WithContext(context.Background()))
	if err != nil {
		t.Fatalf("remote.Get(%s): %v", digestRef, err)
	}
	if desc.Digest.String() != ref.DigestStr() {
		t.Fatalf("pulled digest %s, want %s", desc.Digest, ref.DigestStr())
	}
	return desc
}

func TestRandomImage(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			host := r.Start(t)
			if !strings.HasPrefix(host, "127.0.0.1:") {
				t.Fatalf("host = %q, want 127.0.0.1:PORT", host)
			}
			a := ocitest.RandomImage(t, host, "test/random")
			b := ocitest.RandomImage(t, host, "test/random")
			if a == b {
				t.Errorf("two random images share the digest ref %s", a)
			}
			if want := host + "/test/random@sha256:"; !strings.HasPrefix(a, want) {
				t.Errorf("digest ref = %q, want prefix %q", a, want)
			}
			desc := getManifest(t, a)
			if desc.MediaType != types.OCIManifestSchema1 {
				t.Errorf("media type = %s, want %s", desc.MediaType, types.OCIManifestSchema1)
			}
			img, err := desc.Image()
			if err != nil {
				t.Fatal(err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers = %d, %v; want 1", len(layers), err)
			}
			if _, err := remote.Head(mustTag(t, host+"/test/random:latest")); err != nil {
				t.Errorf("tag latest: %v", err)
			}
		})
	}
}

func TestModelServerImage(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			host := r.Start(t)
			v1ref := ocitest.ModelServerImage(t, host, "models/defect", "defect-v1.json")
			v2ref := ocitest.ModelServerImage(t, host, "models/defect", "defect-v2.json")
			if v1ref == v2ref {
				t.Fatalf("defect-v1 and defect-v2 images have one digest %s", v1ref)
			}
			img1, err := getManifest(t, v1ref).Image()
			if err != nil {
				t.Fatal(err)
			}
			img2, err := getManifest(t, v2ref).Image()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img1.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"/model-server", "--weights", "/model/weights.json"}
			if !slices.Equal(cfg.Config.Entrypoint, want) {
				t.Errorf("entrypoint = %q, want %q", cfg.Config.Entrypoint, want)
			}
			// The binary layer is shared; only the weights layer differs.
			l1, _ := img1.Layers()
			l2, _ := img2.Layers()
			if len(l1) != 2 || len(l2) != 2 {
				t.Fatalf("layers = %d and %d, want 2 each", len(l1), len(l2))
			}
			d1, _ := l1[0].Digest()
			d2, _ := l2[0].Digest()
			if d1 != d2 {
				t.Errorf("binary layers differ: %s vs %s", d1, d2)
			}
		})
	}
}

func TestModelServerImageAbsoluteWeights(t *testing.T) {
	host := ocitest.NewRegistry(t)
	path := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(path, []byte(`{"version":"t1","features":["a"],"weights":[1],"bias":0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	getManifest(t, ocitest.ModelServerImage(t, host, "models/custom", path))
}

func TestRecorder(t *testing.T) {
	var rec ocitest.Recorder
	host := ocitest.NewRegistryWith(t, rec.Wrap)
	ref := ocitest.RandomImage(t, host, "test/rec")
	if n := rec.Count(http.MethodPut, "/manifests/"); n != 1 {
		t.Errorf("manifest PUTs = %d, want 1; requests %v", n, rec.Requests())
	}
	rec.Reset()
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("after Reset, %d requests", n)
	}

	rec.FailWith(func(r *http.Request) int {
		if strings.Contains(r.URL.Path, "/manifests/") {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	if _, err := remote.Get(mustDigest(t, ref), remote.WithRetryBackoff(remote.Backoff{Steps: 1})); err == nil {
		t.Fatal("remote.Get succeeded while manifests fail")
	}
	if n := rec.Count(http.MethodGet, "/manifests/"); n == 0 {
		t.Errorf("failed manifest GETs not recorded: %v", rec.Requests())
	}
	for _, q := range rec.Requests() {
		if strings.Contains(q.Path, "/manifests/") && q.Status != http.StatusServiceUnavailable {
			t.Errorf("request %+v, want status 503", q)
		}
	}
	rec.FailWith(nil)
	getManifest(t, ref)
}

func TestNewRegistryHasReferrers(t *testing.T) {
	host := ocitest.NewRegistry(t)
	ref := mustDigest(t, ocitest.RandomImage(t, host, "test/ref"))
	idx, err := remote.Referrers(ref)
	if err != nil {
		t.Fatalf("referrers: %v", err)
	}
	resp, err := http.Get("http://" + host + "/v2/test/ref/referrers/" + ref.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET referrers = %s, want 200 (the API, not the tag fallback)", resp.Status)
	}
	if m, _ := idx.IndexManifest(); len(m.Manifests) != 0 {
		t.Errorf("referrers of a fresh image = %d, want 0", len(m.Manifests))
	}
}

func TestStartDockerRegistryProcess(t *testing.T) {
	dir := t.TempDir()
	host, stop, err := ocitest.StartDockerRegistryProcess(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, f := range []string{"config.yml", "registry.log", "data"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	ref := ocitest.RandomImage(t, host, "test/proc")
	getManifest(t, ref)
	// The blobs live on disk under dir/data.
	if _, err := os.Stat(filepath.Join(dir, "data", "docker", "registry", "v2", "repositories", "test", "proc")); err != nil {
		t.Errorf("repository not stored on disk: %v", err)
	}
	stop()
	stop() // a second stop is harmless
	if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
		resp.Body.Close()
		t.Error("registry still answers after stop")
	}
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
