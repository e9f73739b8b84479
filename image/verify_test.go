package image

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// env is one registry with keys, shared by the cases of one run.
type env struct {
	host      string
	referrers bool
	a, b, ed  crypto.Signer
	trustedAB *KeySet // a.pub, b.pub
	onlyA     *KeySet // the default
	onlyEd    *KeySet
	opts      Options
}

func newEnv(t *testing.T, host string, referrers bool) *env {
	e := &env{host: host, referrers: referrers, a: newECDSA(t), b: newECDSA(t), ed: newEd25519(t), opts: optsFor(host)}
	e.trustedAB = keySet(t, map[string]crypto.Signer{"a.pub": e.a, "b.pub": e.b})
	e.onlyA = keySet(t, map[string]crypto.Signer{"a.pub": e.a})
	e.onlyEd = keySet(t, map[string]crypto.Signer{"ed.pub": e.ed})
	return e
}

// image pushes a fresh random image to its own repository.
func (e *env) image(t *testing.T) string {
	return ocitest.RandomImage(t, e.host, "models/"+strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
}

func (e *env) signLegacy(t *testing.T, ref string, key crypto.Signer) {
	t.Helper()
	if err := SignLegacy(ctxT(t), ref, key, e.opts); err != nil {
		t.Fatalf("SignLegacy: %v", err)
	}
}

func (e *env) signBundle(t *testing.T, ref string, key crypto.Signer) {
	t.Helper()
	if err := SignBundle(ctxT(t), ref, key, e.opts); err != nil {
		t.Fatalf("SignBundle: %v", err)
	}
}

type verifyCase struct {
	name string
	// setup pushes and signs; it returns the ref to verify.
	setup func(t *testing.T, e *env) string
	keys  func(e *env) *KeySet // default e.onlyA
	opts  func(o *Options)
	// want lists "format:key" of the signatures found; nil means refused.
	want []string
	// wantErr is a substring of the refusal.
	wantErr string
}

var verifyCases = []verifyCase{
	{
		name: "legacy signed",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			return ref
		},
		want: []string{"legacy:a.pub"},
	},
	{
		name: "bundle signed",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signBundle(t, ref, e.a)
			return ref
		},
		want: []string{"bundle:a.pub"},
	},
	{
		name: "both formats one key",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			e.signBundle(t, ref, e.a)
			return ref
		},
		want: []string{"bundle:a.pub", "legacy:a.pub"},
	},
	{
		name:    "unsigned",
		setup:   func(t *testing.T, e *env) string { return e.image(t) },
		wantErr: "no signature found",
	},
	{
		name: "wrong key legacy",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.b)
			return ref
		},
		wantErr: "not valid under any trusted key",
	},
	{
		name: "wrong key bundle",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signBundle(t, ref, e.b)
			return ref
		},
		wantErr: "DSSE signature not valid under any trusted key",
	},
	{
		name: "sig copied onto another digest",
		setup: func(t *testing.T, e *env) string {
			ctx := ctxT(t)
			signed := e.image(t)
			e.signLegacy(t, signed, e.a)
			other := e.image(t)
			repo := digestOfRef(t, signed).Context()
			sig := getRaw(t, ctx, repo.Tag("sha256-"+hexOf(t, signed)+".sig"))
			putRaw(t, ctx, repo.Tag("sha256-"+hexOf(t, other)+".sig"), sig.Manifest)
			return other
		},
		wantErr: "payload signs sha256:",
	},
	{
		name: "bundle re-attached to another digest",
		setup: func(t *testing.T, e *env) string {
			ctx := ctxT(t)
			signed := e.image(t)
			e.signBundle(t, signed, e.a)
			other := e.image(t)
			// A new referrer manifest with the other image as subject and
			// the signed image's bundle as its layer.
			refs := referrersOf(t, ctx, signed)
			if len(refs) != 1 {
				t.Fatalf("referrers of the signed image = %d, want 1", len(refs))
			}
			repo := digestOfRef(t, signed).Context()
			m := getRaw(t, ctx, repo.Digest(refs[0].Digest.String()))
			var om ociManifest
			if err := json.Unmarshal(m.Manifest, &om); err != nil {
				t.Fatal(err)
			}
			sub := getRaw(t, ctx, digestOfRef(t, other)).Descriptor
			om.Subject = &v1.Descriptor{MediaType: sub.MediaType, Digest: sub.Digest, Size: sub.Size}
			raw, _ := json.Marshal(om)
			putRaw(t, ctx, repo.Digest(sha256Digest(raw)), raw)
			if n := len(referrersOf(t, ctx, other)); n != 1 {
				t.Fatalf("referrers of the other image = %d, want 1", n)
			}
			return other
		},
		wantErr: "statement signs sha256:",
	},
	{
		name: "referrer of another image listed in the fallback tag",
		setup: func(t *testing.T, e *env) string {
			ctx := ctxT(t)
			signed := e.image(t)
			e.signBundle(t, signed, e.a)
			other := e.image(t)
			refs := referrersOf(t, ctx, signed)
			repo := digestOfRef(t, signed).Context()
			putIndex(t, ctx, repo.Tag("sha256-"+hexOf(t, other)), refs...)
			return other
		},
		wantErr: "not this image",
	},
	{
		name: "attestation only",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			if err := signBundle(ctxT(t), ref, e.a, e.opts, "https://slsa.dev/provenance/v1"); err != nil {
				t.Fatal(err)
			}
			return ref
		},
		wantErr: "is an attestation, not a signature",
	},
	{
		name: "oversized image manifest",
		setup: func(t *testing.T, e *env) string {
			img := mutate.Annotations(emptyOCIImage(), map[string]string{"pad": strings.Repeat("x", 80<<10)}).(v1.Image)
			ref := ocitest.Push(t, img, e.host+"/models/oversized")
			e.signLegacy(t, ref, e.a)
			return ref
		},
		opts:    func(o *Options) { o.MaxManifestBytes = 64 << 10 },
		wantErr: "over the size cap",
	},
	{
		name: "oversized signature manifest",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			for range 8 { // eight signatures make a .sig manifest over 2 KiB
				e.signLegacy(t, ref, newECDSA(t))
			}
			return ref
		},
		opts:    func(o *Options) { o.MaxManifestBytes = 2 << 10 },
		wantErr: "over the size cap",
	},
	{
		name: "oversized payload blob",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			return ref
		},
		opts:    func(o *Options) { o.MaxBlobBytes = 64 },
		wantErr: "over the size cap",
	},
	{
		name: "min signatures 2 with one",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			e.signBundle(t, ref, e.a) // the same key twice is one key
			return ref
		},
		keys:    func(e *env) *KeySet { return e.trustedAB },
		opts:    func(o *Options) { o.MinSignatures = 2 },
		wantErr: "signed by 1 distinct trusted keys, 2 required",
	},
	{
		name: "min signatures 2 with two",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			e.signBundle(t, ref, e.b)
			return ref
		},
		keys: func(e *env) *KeySet { return e.trustedAB },
		opts: func(o *Options) { o.MinSignatures = 2 },
		want: []string{"legacy:a.pub", "bundle:b.pub"},
	},
	{
		name: "min signatures 2 legacy only",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.a)
			e.signLegacy(t, ref, e.b)
			e.signLegacy(t, ref, e.a) // already there: adds nothing
			return ref
		},
		keys: func(e *env) *KeySet { return e.trustedAB },
		opts: func(o *Options) { o.MinSignatures = 2 },
		want: []string{"legacy:a.pub", "legacy:b.pub"},
	},
	{
		name: "ed25519 both formats",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signLegacy(t, ref, e.ed)
			e.signBundle(t, ref, e.ed)
			return ref
		},
		keys: func(e *env) *KeySet { return e.onlyEd },
		want: []string{"bundle:ed.pub", "legacy:ed.pub"},
	},
	{
		name: "ed25519 signature ecdsa key trusted",
		setup: func(t *testing.T, e *env) string {
			ref := e.image(t)
			e.signBundle(t, ref, e.ed)
			return ref
		},
		wantErr: "not valid under any trusted key",
	},
}

// emptyOCIImage is an image with no layers and OCI media types.
func emptyOCIImage() v1.Image {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

func TestVerify(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			e := newEnv(t, r.Start(t), r.Referrers)
			for _, tc := range verifyCases {
				t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
					ref := tc.setup(t, e)
					keys := e.onlyA
					if tc.keys != nil {
						keys = tc.keys(e)
					}
					opts := e.opts
					if tc.opts != nil {
						tc.opts(&opts)
					}
					res, err := Verify(ctxT(t), ref, keys, opts)
					if tc.want == nil {
						if !errors.Is(err, ErrRefused) {
							t.Fatalf("Verify = %v, %v; want refused", res, err)
						}
						t.Logf("refused: %v", err)
						if !strings.Contains(err.Error(), tc.wantErr) {
							t.Errorf("error %q\nwant it to contain %q", err, tc.wantErr)
						}
						var re *RefusedError
						if !errors.As(err, &re) || re.Digest != digestOfRef(t, ref).DigestStr() || !slices.Equal(re.Keys, keys.Names()) {
							t.Errorf("refusal %+v: want digest %s and keys %v", re, digestOfRef(t, ref).DigestStr(), keys.Names())
						}
						if ne := new(net.Error); errors.As(err, ne) {
							t.Errorf("refusal %v is a net.Error", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					var got []string
					for _, f := range res.Signatures {
						got = append(got, fmt.Sprintf("%s:%s", f.Format, f.KeyName))
					}
					slices.Sort(got)
					want := slices.Sorted(slices.Values(tc.want))
					if !slices.Equal(got, want) {
						t.Errorf("signatures = %v, want %v", got, want)
					}
					if res.Digest != digestOfRef(t, ref).DigestStr() || res.Ref != ref {
						t.Errorf("result digest %s ref %s, want %s", res.Digest, res.Ref, ref)
					}
				})
			}
		})
	}
}
