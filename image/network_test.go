package image

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// isUnreachable is how a caller tells a registry it could not reach from
// a refusal.
func isUnreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // connection refused from now on
	ks := keySet(t, map[string]crypto.Signer{"a.pub": newECDSA(t)})
	_, err = Verify(ctxT(t), host+"/models/x@sha256:"+strings.Repeat("a", 64), ks, optsFor(host))
	if !isUnreachable(err) || errors.Is(err, ErrRefused) {
		t.Errorf("Verify against a closed port = %v; want a net.Error, not a refusal", err)
	}
}

func TestServerErrors(t *testing.T) {
	var rec ocitest.Recorder
	host := ocitest.NewRegistryWith(t, rec.Wrap)
	key := newECDSA(t)
	ks := keySet(t, map[string]crypto.Signer{"a.pub": key})
	unsigned := ocitest.RandomImage(t, host, "models/errors")
	signed := ocitest.RandomImage(t, host, "models/errors")
	if err := SignLegacy(ctxT(t), signed, key, optsFor(host)); err != nil {
		t.Fatal(err)
	}
	fail := func(part string, code int) func(*http.Request) int {
		return func(r *http.Request) int {
			if strings.Contains(r.URL.Path, part) {
				return code
			}
			return 0
		}
	}
	for _, tc := range []struct {
		name       string
		ref        string
		fail       func(*http.Request) int
		wantAccept bool
	}{
		{"ping 503", unsigned, fail("/v2/", http.StatusServiceUnavailable), false},
		{"image manifest 502", signed, fail("/manifests/sha256:", http.StatusBadGateway), false},
		{"referrers 503, unsigned", unsigned, fail("/referrers/", http.StatusServiceUnavailable), false},
		{"signature blob 500", signed, fail("/blobs/", http.StatusInternalServerError), false},
		{"referrers 429, legacy signature enough", signed, fail("/referrers/", http.StatusTooManyRequests), true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			rec.FailWith(tc.fail)
			defer rec.FailWith(nil)
			_, err := Verify(ctxT(t), tc.ref, ks, optsFor(host))
			if tc.wantAccept {
				if err != nil {
					t.Errorf("Verify = %v, want accepted", err)
				}
				return
			}
			var ue *UnavailableError
			if !isUnreachable(err) || !errors.As(err, &ue) || errors.Is(err, ErrRefused) {
				t.Errorf("Verify = %v; want an UnavailableError (net.Error), not a refusal", err)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	host := ocitest.NewRegistryWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				<-r.Context().Done() // a registry that never answers
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ks := keySet(t, map[string]crypto.Signer{"a.pub": newECDSA(t)})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := Verify(ctx, host+"/models/slow@sha256:"+strings.Repeat("a", 64), ks, optsFor(host))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRefused) {
		t.Errorf("Verify = %v; want context.DeadlineExceeded, not a refusal", err)
	}
}

// TestDigestMismatch: a registry that serves other bytes for a digest than
// the digest names is refused, even if the image it serves is signed.
func TestDigestMismatch(t *testing.T) {
	var swap struct{ from, to string }
	host := ocitest.NewRegistryWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if swap.from != "" && strings.HasSuffix(r.URL.Path, "/manifests/"+swap.from) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, swap.from) + swap.to
			}
			h.ServeHTTP(w, r)
		})
	})
	key := newECDSA(t)
	ks := keySet(t, map[string]crypto.Signer{"a.pub": key})
	requested := ocitest.RandomImage(t, host, "models/swap")
	served := ocitest.RandomImage(t, host, "models/swap")
	for _, ref := range []string{requested, served} {
		if err := SignLegacy(ctxT(t), ref, key, optsFor(host)); err != nil {
			t.Fatal(err)
		}
	}
	swap.from, swap.to = digestOfRef(t, requested).DigestStr(), digestOfRef(t, served).DigestStr()
	_, err := Verify(ctxT(t), requested, ks, optsFor(host))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "registry serves a manifest with digest "+swap.to) {
		t.Errorf("Verify = %v; want refused for the digest mismatch", err)
	}
}

// TestVerificationRequestBudget states what verifying an image may cost a
// registry, as an operator would check it: not one blob of the image itself
// (config or layers: model layers can be gigabytes) is downloaded, the
// number of requests does not grow with the number of layers, and it stays
// within what the signature formats need (budget). A tag costs no more
// than a digest, and an unsigned image is refused either way.
func TestVerificationRequestBudget(t *testing.T) {
	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			var rec ocitest.Recorder
			var host string
			if r.Referrers {
				host = ocitest.NewRegistryWith(t, rec.Wrap)
			} else {
				// distribution behind a recording reverse proxy.
				u, _ := url.Parse("http://" + r.Start(t))
				srv := httptest.NewServer(rec.Wrap(httputil.NewSingleHostReverseProxy(u)))
				t.Cleanup(srv.Close)
				host = strings.TrimPrefix(srv.URL, "http://")
			}
			testRequestBudget(t, &rec, host)
		})
	}
}

// budget is the most requests one verification needs by the formats it
// reads: the API version check and the image manifest; the legacy
// signature manifest (tag sha256-<hex>.sig) and one blob per signature in
// it; the referrers list (the referrers API, and the sha256-<hex> fallback
// tag for registries without it) and, per referrer, its manifest and its
// bundle blob.
func budget(legacySigs, referrers int) int {
	return 2 + (1 + legacySigs) + (2 + 2*referrers)
}

func testRequestBudget(t *testing.T, rec *ocitest.Recorder, host string) {
	key := newECDSA(t)
	ks := keySet(t, map[string]crypto.Signer{"a.pub": key})
	opts := optsFor(host)
	ctx := ctxT(t)
	repo := host + "/models/budget"

	// push pushes a random image of n layers under ref and returns its
	// digest reference and the digests of its own blobs.
	push := func(n int, ref string) (string, []string) {
		img, err := random.Image(256, int64(n))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		own := []string{cfg.String()}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			own = append(own, d.String())
		}
		return ocitest.Push(t, img, ref), own
	}
	// verify verifies ref and checks the request log against the budget.
	verify := func(what, ref string, own []string, legacySigs, referrers int) int {
		t.Helper()
		rec.Reset()
		_, err := Verify(ctx, ref, ks, opts)
		if signed := legacySigs+referrers > 0; signed && err != nil {
			t.Fatalf("%s: Verify = %v, want accepted", what, err)
		} else if !signed && !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: Verify = %v, want refused", what, err)
		}
		reqs := rec.Requests()
		for _, q := range reqs {
			for _, d := range own {
				if q.Method == http.MethodGet && strings.HasSuffix(q.Path, "/blobs/"+d) {
					t.Errorf("%s: verification downloaded the image's own blob %s", what, d)
				}
			}
		}
		if n, max := len(reqs), budget(legacySigs, referrers); n > max {
			t.Errorf("%s: %d requests, over the budget of %d: %v", what, n, max, reqs)
		}
		return len(reqs)
	}

	type signing struct {
		name           string
		legacy, bundle bool
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for _, sg := range []signing{{"unsigned", false, false}, {"legacy", true, false}, {"bundle", false, true}, {"both", true, true}} {
		var counts []int
		for _, layers := range []int{1, 8} {
			ref, own := push(layers, repo)
			if sg.legacy {
				if err := SignLegacy(ctx, ref, key, opts); err != nil {
					t.Fatal(err)
				}
			}
			if sg.bundle {
				if err := SignBundle(ctx, ref, key, opts); err != nil {
					t.Fatal(err)
				}
			}
			what := fmt.Sprintf("%s, %d layers", sg.name, layers)
			counts = append(counts, verify(what, ref, own, b2i(sg.legacy), b2i(sg.bundle)))
		}
		if counts[0] != counts[1] {
			t.Errorf("%s: %d requests for 1 layer, %d for 8: the cost grows with the image", sg.name, counts[0], counts[1])
		}
	}

	// By tag: the tag's manifest is the image's, so the budget is the same.
	_, own := push(3, repo+":unsigned")
	verify("unsigned by tag", repo+":unsigned", own, 0, 0)
	ref, own := push(3, repo+":signed")
	if err := SignLegacy(ctx, ref, key, opts); err != nil {
		t.Fatal(err)
	}
	verify("signed by tag", repo+":signed", own, 1, 0)
}
