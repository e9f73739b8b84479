package runtime

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

// TestPullFromTheVerifiedMirror: fleet.yaml sends the test registry's
// images to a mirror under the path prefix cache/. The image adapter
// verifies the echo image there and the runtime pulls exactly from there:
// the origin registry sees no request at all, and the image is stored
// under the name the fleet gives it. Run against both real registries as
// the mirror.
func TestPullFromTheVerifiedMirror(t *testing.T) {
	for _, m := range ocitest.Kinds() {
		t.Run(m.Name, func(t *testing.T) {
			e := setup(t)
			ctx := t.Context()
			mirror := m.Start(t)
			dgst := echo.ref[strings.LastIndexByte(echo.ref, '@')+1:]
			at := mirror + "/cache/test/echo@" + dgst
			copyImage(t, echo.ref, mirror+"/cache/test/echo:latest")

			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			mirrorOnly := image.Options{Registries: []spec.Registry{{Host: mirror, PlainHTTP: true}}}
			if err := image.SignLegacy(ctx, at, key, mirrorOnly); err != nil {
				t.Fatal(err)
			}
			pub, err := image.MarshalPublicKey(key)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := image.ParsePublicKeys(map[string][]byte{"cosign.pub": pub})
			if err != nil {
				t.Fatal(err)
			}
			regs := []spec.Registry{
				{Host: reg.host, PlainHTTP: true, Mirrors: []spec.Mirror{{Host: mirror, Prefix: "cache"}}},
				{Host: mirror, PlainHTTP: true},
			}

			before := reg.requests.Load()
			res, err := image.Verify(ctx, echo.ref, keys, image.Options{Registries: regs})
			if err != nil {
				t.Fatal(err)
			}
			if want := "http://" + at; res.Source.String() != want {
				t.Fatalf("verified at %s, want %s", res.Source, want)
			}
			if err := e.c.Pull(ctx, res.Source); err != nil {
				t.Fatal(err)
			}
			if n := reg.requests.Load() - before; n != 0 {
				t.Errorf("the origin registry got %d requests; verify and pull should both use the mirror", n)
			}
			img, err := e.c.client.GetImage(e.c.ns(ctx), echo.ref)
			if err != nil {
				t.Fatalf("image not stored under the fleet's name %s: %v", echo.ref, err)
			}
			if ok, err := img.IsUnpacked(e.c.ns(ctx), e.c.cfg.Snapshotter); err != nil || !ok {
				t.Errorf("IsUnpacked = %v, %v; want true", ok, err)
			}
		})
	}
}

// TestPullOnlyFromTheSource: a source the image is not at fails, with no
// fallback to another registry.
func TestPullOnlyFromTheSource(t *testing.T) {
	e := setup(t)
	empty := ocitest.NewRegistry(t)
	src := source(t, echo.ref, registries())
	src.Host, src.Repository = empty, "cache/"+src.Repository
	before := reg.requests.Load()
	err := e.c.Pull(t.Context(), src)
	if err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("Pull from a registry without the image = %v, want an error naming %s", err, empty)
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("the image's own registry got %d requests; the pull must not leave its source", n)
	}
}

// copyImage copies the image at from to to, as a mirror holds it.
func copyImage(t *testing.T, from, to string) {
	t.Helper()
	src, err := name.ParseReference(from, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	ocitest.Push(t, img, to)
}
