package ocitest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/imagebuild"
)

// ModelServerPackage is the model-server example's package path relative
// to the module root.
const ModelServerPackage = "./examples/model-server"

// ModelServerImage builds examples/model-server for linux/GOARCH with
// weightsFile placed at /model/weights.json, pushes it to host/repo (tag
// "latest") and returns "host/repo@sha256:…". weightsFile is a path
// relative to examples/model-server/weights (e.g. "defect-v1.json") or an
// absolute path. The image's entrypoint is
// ["/model-server", "--weights", "/model/weights.json"] and it listens on
// :8080. The binary is built once per test process.
func ModelServerImage(t testing.TB, host, repo, weightsFile string) (digestRef string) {
	t.Helper()
	img := ModelServerImageLocal(t, weightsFile)
	return Push(t, img, host+"/"+repo)
}

// ModelServerImageLocal is ModelServerImage without the push.
func ModelServerImageLocal(t testing.TB, weightsFile string) v1.Image {
	t.Helper()
	path := weightsFile
	if !filepath.IsAbs(path) {
		root, err := imagebuild.ModuleRoot(context.Background())
		if err != nil {
			t.Fatalf("model-server image: %v", err)
		}
		path = filepath.Join(root, ModelServerPackage, "weights", weightsFile)
	}
	weights, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("model-server image: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := imagebuild.Build(ctx, imagebuild.Options{
		Package:    ModelServerPackage,
		Files:      map[string][]byte{"/model/weights.json": weights},
		Entrypoint: []string{"/model-server", "--weights", "/model/weights.json"},
		GOARCH:     runtime.GOARCH,
	})
	if err != nil {
		t.Fatalf("model-server image: %v", err)
	}
	return img
}

// RandomImage pushes a tiny, non-runnable OCI image with one random layer
// to host/repo (tag "latest") and returns "host/repo@sha256:…". Each call
// makes a different image.
func RandomImage(t testing.TB, host, repo string) (digestRef string) {
	t.Helper()
	layer, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatalf("random layer: %v", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatalf("random image: %v", err)
	}
	return Push(t, img, host+"/"+repo)
}

// Push pushes img to ref (a tag or digest reference; plain HTTP for
// loopback hosts) and returns "host/repo@sha256:…".
func Push(t testing.TB, img v1.Image, ref string) (digestRef string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	digestRef, err := imagebuild.Push(ctx, img, ref)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return digestRef
}
