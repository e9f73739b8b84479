package image

import (
	"context"
	"crypto"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

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

// TestRequestCounts measures the requests one verification makes. Rounds:
// ping; the image manifest (concurrently with round 1 for a digest ref,
// before it for a tag); 1: .sig manifest, referrers API, fallback tag;
// 2: payload blobs, referrer manifests; 3: bundle blobs.
func TestRequestCounts(t *testing.T) {
	for _, r := range registries {
		t.Run(r.name, func(t *testing.T) {
			var rec ocitest.Recorder
			var host string
			if r.referrers {
				host = ocitest.NewRegistryWith(t, rec.Wrap)
			} else {
				// distribution behind a recording reverse proxy.
				u, _ := url.Parse("http://" + r.start(t))
				srv := httptest.NewServer(rec.Wrap(httputil.NewSingleHostReverseProxy(u)))
				t.Cleanup(srv.Close)
				host = strings.TrimPrefix(srv.URL, "http://")
			}
			testRequestCounts(t, &rec, host)
		})
	}
}

func testRequestCounts(t *testing.T, rec *ocitest.Recorder, host string) {
	key := newECDSA(t)
	ks := keySet(t, map[string]crypto.Signer{"a.pub": key})
	opts := optsFor(host)
	ctx := ctxT(t)

	legacy := ocitest.RandomImage(t, host, "models/count")
	bundled := ocitest.RandomImage(t, host, "models/count")
	both := ocitest.RandomImage(t, host, "models/count")
	unsigned := ocitest.RandomImage(t, host, "models/count")
	for _, s := range []struct {
		ref  string
		sign func(context.Context, string, crypto.Signer, Options) error
	}{{legacy, SignLegacy}, {bundled, SignBundle}, {both, SignLegacy}, {both, SignBundle}} {
		if err := s.sign(ctx, s.ref, key, opts); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name                      string
		ref                       string
		wantTotal, wantBlobs, max int
	}{
		// ping + image manifest + (.sig, referrers, fallback tag) + blob
		{"legacy", legacy, 6, 1, 6},
		// ping + image manifest + (.sig, referrers, fallback tag) + referrer manifest + bundle blob
		{"bundle", bundled, 7, 1, 7},
		{"both", both, 8, 2, 8},
		{"unsigned", unsigned, 5, 0, 5},
	} {
		rec.Reset()
		start := time.Now()
		_, err := Verify(ctx, tc.ref, ks, opts)
		elapsed := time.Since(start)
		if (err == nil) == (tc.name == "unsigned") {
			t.Fatalf("%s: Verify = %v", tc.name, err)
		}
		total, blobs := len(rec.Requests()), rec.Count(http.MethodGet, "/blobs/")
		t.Logf("%-8s %d requests (%d blob GETs) in %v: %v", tc.name, total, blobs, elapsed.Round(time.Microsecond), rec.Requests())
		if total != tc.wantTotal || blobs != tc.wantBlobs {
			t.Errorf("%s: %d requests, %d blobs; want %d and %d", tc.name, total, blobs, tc.wantTotal, tc.wantBlobs)
		}
	}

	// A tag ref costs nothing more: the tag's manifest is the image manifest.
	rec.Reset()
	if _, err := Verify(ctx, host+"/models/count:latest", ks, opts); err == nil {
		t.Log("latest is signed") // latest is the last pushed (unsigned) image
	}
	if n := len(rec.Requests()); n != 5 {
		t.Errorf("tag ref: %d requests, want 5: %v", n, rec.Requests())
	}
}
