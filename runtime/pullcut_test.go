package runtime

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/proxytest"
	"github.com/gitfleet/gitfleet/spec"
)

// A pull cut half way through its layer, then refused while the registry
// is unreachable (the space check's lookup fails with connection refused),
// resumes from the bytes it holds once the registry answers again: the
// registry sends the layer about once in all.
func TestPullCutAndRefusedResumes(t *testing.T) {
	e := setup(t)
	host := ocitest.StartDockerRegistry(t)
	const size = 4 << 20
	layer, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		t.Fatal(err)
	}
	ocitest.Push(t, img, host+"/test/big:latest")
	ld, _ := layer.Digest()
	lsize, _ := layer.Size()
	manifest, _ := img.RawManifest()
	config, _ := img.RawConfigFile()
	dgst, _ := img.Digest()

	p := proxytest.Start(t, host)
	regs := []spec.Registry{{Host: p.Addr(), PlainHTTP: true}}
	src := source(t, p.Addr()+"/test/big@"+dgst.String(), regs)

	p.Cut("/blobs/"+ld.String(), lsize/2)
	if err := e.c.Pull(t.Context(), src); err == nil {
		t.Fatal("pull through a connection cut mid-layer succeeded")
	}
	if err := e.c.Pull(t.Context(), src); err == nil {
		t.Fatal("pull while the registry refuses connections succeeded")
	}
	p.Up()
	if err := e.c.Pull(t.Context(), src); err != nil {
		t.Fatalf("pull once the registry is back: %v", err)
	}
	if ok, err := e.c.client.GetImage(e.c.ns(t.Context()), src.Image.String()); err != nil {
		t.Fatalf("image after the resumed pull: %v %v", ok, err)
	}

	got := p.Sent("/blobs/" + ld.String())
	limit := lsize + lsize/100
	if got >= limit {
		t.Errorf("layer bytes fetched from the registry = %d, want < 1.01 × %d", got, lsize)
	}
	if all := p.Sent(""); all >= limit+int64(len(manifest)+len(config)) {
		t.Errorf("bytes fetched from the registry = %d, want < 1.01 × layer + manifest and config (%d)", all, limit+int64(len(manifest)+len(config)))
	}
}
