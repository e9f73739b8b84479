package image

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func optsFor(host string) Options {
	return Options{Registries: []spec.Registry{{Host: host, PlainHTTP: true}}}
}

func newECDSA(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEd25519(t testing.TB) crypto.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedBoth pushes a random image to host's repo and signs it in both
// formats: a legacy signature by a, a bundle by b. It returns the image's
// reference by digest.
func signedBoth(ctx context.Context, t *testing.T, host, repo string, a, b crypto.Signer) string {
	t.Helper()
	ref := ocitest.RandomImage(t, host, repo)
	if err := SignLegacy(ctx, ref, a, optsFor(host)); err != nil {
		t.Fatal(err)
	}
	if err := SignBundle(ctx, ref, b, optsFor(host)); err != nil {
		t.Fatal(err)
	}
	return ref
}

// keySet makes a KeySet of the public halves of keys.
func keySet(t testing.TB, keys map[string]crypto.Signer) *KeySet {
	t.Helper()
	pems := map[string][]byte{}
	for name, k := range keys {
		p, err := MarshalPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pems[name] = p
	}
	ks, err := ParsePublicKeys(pems)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// ropts are go-containerregistry options for test-side registry access.
func ropts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx)}
}

func digestOfRef(t testing.TB, ref string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func hexOf(t testing.TB, ref string) string {
	return strings.TrimPrefix(digestOfRef(t, ref).DigestStr(), "sha256:")
}

// getRaw reads a manifest as the registry serves it.
func getRaw(t testing.TB, ctx context.Context, ref name.Reference) *remote.Descriptor {
	t.Helper()
	d, err := remote.Get(ref, ropts(ctx)...)
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	return d
}

// putRaw puts a manifest as it is under ref.
func putRaw(t testing.TB, ctx context.Context, ref name.Reference, raw []byte) {
	t.Helper()
	if err := remote.Put(ref, rawManifest(raw), ropts(ctx)...); err != nil {
		t.Fatalf("put %s: %v", ref, err)
	}
}

// putIndex tags an OCI index listing descs.
func putIndex(t testing.TB, ctx context.Context, tag name.Tag, descs ...v1.Descriptor) {
	t.Helper()
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawIndex(raw), ropts(ctx)...); err != nil {
		t.Fatalf("put %s: %v", tag, err)
	}
}

type rawIndex []byte

func (m rawIndex) RawManifest() ([]byte, error)        { return m, nil }
func (m rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

// referrersOf lists what the registry holds for ref, by API or fallback tag.
func referrersOf(t testing.TB, ctx context.Context, ref string) []v1.Descriptor {
	t.Helper()
	idx, err := remote.Referrers(digestOfRef(t, ref), ropts(ctx)...)
	if err != nil {
		t.Fatalf("referrers of %s: %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Manifests
}

// httpGet is a plain GET against the test registry.
func httpGet(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
