package image

import (
	"crypto"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestVerifyStoreLayout signs an image in a registry in both formats,
// copies it with its signatures into an OCI image layout, and verifies it
// there offline: the same checks, read through the Store interface.
func TestVerifyStoreLayout(t *testing.T) {
	ctx := ctxT(t)
	host := ocitest.NewRegistry(t)
	a, b := newECDSA(t), newECDSA(t)
	ref := signedBoth(ctx, t, host, "models/offline", a, b)
	unsigned := ocitest.RandomImage(t, host, "models/offline")

	p, err := layout.Write(t.TempDir(), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	d := digestOfRef(t, ref)
	appendImage := func(r string, annotations map[string]string) {
		t.Helper()
		img, err := remote.Image(mustRef(t, r), ropts(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(annotations)); err != nil {
			t.Fatal(err)
		}
	}
	appendImage(ref, nil)
	appendImage(unsigned, nil)
	sigTag := "sha256-" + hexOf(t, ref) + ".sig"
	appendImage(d.Context().Tag(sigTag).String(), map[string]string{RefNameAnnotation: sigTag})
	for _, r := range referrersOf(t, ctx, ref) {
		appendImage(d.Context().Digest(r.Digest.String()).String(), nil)
	}

	st, err := OpenLayout(string(p))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := keySet(t, map[string]crypto.Signer{"a.pub": a, "b.pub": b})
	res, err := VerifyStore(ctx, st, ref, keys, Options{MinSignatures: 2})
	if err != nil {
		t.Fatalf("VerifyStore: %v", err)
	}
	var got []string
	for _, f := range res.Signatures {
		got = append(got, string(f.Format)+" "+f.KeyName)
	}
	if want := []string{"legacy a.pub", "bundle b.pub"}; !slices.Equal(got, want) {
		t.Errorf("signatures found in the layout: %v, want %v", got, want)
	}
	if res.Digest != d.DigestStr() {
		t.Errorf("digest %s, want %s", res.Digest, d.DigestStr())
	}
	if _, err := VerifyStore(ctx, st, unsigned, keys, Options{}); !errors.Is(err, ErrRefused) {
		t.Errorf("unsigned image in the layout: %v, want refused", err)
	}
	missing := ocitest.RandomImage(t, host, "models/offline")
	if _, err := VerifyStore(ctx, st, missing, keys, Options{}); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrRefused) {
		t.Errorf("image not in the layout: %v, want not found (not a refusal)", err)
	}
}

func mustRef(t testing.TB, r string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
