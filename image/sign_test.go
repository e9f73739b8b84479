package image

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestSignBundleWhere checks where SignBundle puts the referrer: found
// through the API on ggcr's registry (no fallback tag written), through the
// fallback tag on distribution 2.8 (no API).
func TestSignBundleWhere(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			ctx := ctxT(t)
			host := r.Start(t)
			ref := ocitest.RandomImage(t, host, "models/where")
			key := newECDSA(t)
			if err := SignBundle(ctx, ref, key, optsFor(host)); err != nil {
				t.Fatal(err)
			}
			d := digestOfRef(t, ref)
			status, _ := httpGet(t, "http://"+host+"/v2/models/where/referrers/"+d.DigestStr())
			if got := status == 200; got != r.Referrers {
				t.Errorf("referrers API answered %d; registry has the API: %v", status, r.Referrers)
			}
			_, err := remote.Head(d.Context().Tag("sha256-"+d.DigestStr()[7:]), ropts(ctx)...)
			if hasTag := err == nil; hasTag == r.Referrers {
				t.Errorf("fallback tag exists: %v (err %v), want %v", hasTag, err, !r.Referrers)
			}
			refs := referrersOf(t, ctx, ref)
			if len(refs) != 1 {
				t.Fatalf("referrers = %d, want 1", len(refs))
			}
			m := getRaw(t, ctx, d.Context().Digest(refs[0].Digest.String()))
			var om ociManifest
			if err := json.Unmarshal(m.Manifest, &om); err != nil {
				t.Fatal(err)
			}
			if om.ArtifactType != BundleMediaType || om.Config.MediaType != EmptyConfigMediaType ||
				len(om.Layers) != 1 || om.Layers[0].MediaType != BundleMediaType ||
				om.Subject == nil || om.Subject.Digest.String() != d.DigestStr() ||
				om.Annotations[BundlePredicateAnnotation] != SignPredicateType {
				t.Errorf("referrer manifest = %s", m.Manifest)
			}
		})
	}
}

// TestTagMoved verifies a tag, moves it, and shows that the result names
// the digest that was verified, which is what the caller pulls.
func TestTagMoved(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			ctx := ctxT(t)
			host := r.Start(t)
			e := newEnv(t, host, r.Referrers)
			signed := ocitest.RandomImage(t, host, "models/moving")
			e.signLegacy(t, signed, e.a)
			tagRef := host + "/models/moving:v1"
			putRaw(t, ctx, mustTag(t, tagRef), getRaw(t, ctx, digestOfRef(t, signed)).Manifest)

			res, err := Verify(ctx, tagRef, e.onlyA, e.opts)
			if err != nil {
				t.Fatalf("Verify(%s): %v", tagRef, err)
			}
			if res.Ref != signed {
				t.Fatalf("verified %s, want %s", res.Ref, signed)
			}
			// The tag moves to an unsigned image after verification.
			unsigned := ocitest.RandomImage(t, host, "models/moving")
			putRaw(t, ctx, mustTag(t, tagRef), getRaw(t, ctx, digestOfRef(t, unsigned)).Manifest)

			if res.Digest != digestOfRef(t, signed).DigestStr() {
				t.Errorf("result digest %s, want the verified %s", res.Digest, signed)
			}
			// Pulling res.Ref gets the verified image, not the tag's new one.
			if got := getRaw(t, ctx, digestOfRef(t, res.Ref)).Digest.String(); got != res.Digest {
				t.Errorf("pull %s got %s", res.Ref, got)
			}
			if _, err := Verify(ctx, tagRef, e.onlyA, e.opts); !errors.Is(err, ErrRefused) {
				t.Errorf("Verify of the moved tag = %v, want refused", err)
			}
			if _, err := Verify(ctx, res.Ref, e.onlyA, e.opts); err != nil {
				t.Errorf("Verify(%s) = %v", res.Ref, err)
			}
			// The adapter takes only pinned refs.
			v := NewVerifier(e.onlyA, Options{})
			if _, err := v.VerifyImage(ctx, tagRef, e.opts.Registries); !errors.Is(err, ErrRefused) {
				t.Errorf("VerifyImage(tag) = %v, want refused", err)
			}
			src, err := v.VerifyImage(ctx, res.Ref, e.opts.Registries)
			if err != nil {
				t.Errorf("VerifyImage(%s) = %v", res.Ref, err)
			}
			if src.Digest != res.Digest || src.Ref() != res.Ref {
				t.Errorf("VerifyImage(%s) hands on %s, want exactly %s", res.Ref, src, res.Ref)
			}
		})
	}
}

func mustTag(t testing.TB, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
