package runtime

// A tiny runnable image (testdata/echo) served by an in-process registry.
// Kept local to these tests; internal/ocitest may replace it.

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testRegistry is go-containerregistry's registry behind httptest, counting
// requests and able to stall one blob half way.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	requests atomic.Int64

	mu      sync.Mutex
	stall   string        // "/blobs/<digest>" to stall, "" for none
	stalled chan struct{} // closed when a stalled response is half sent
	ranges  []string      // Range headers of blob requests
	// strictRanges leaves Range headers to go-containerregistry's
	// registry, which answers 416 to the open-ended "bytes=N-" containerd
	// resumes with. Otherwise the test server completes such ranges to
	// "bytes=N-<size-1>", as real registries accept them.
	strictRanges bool
}

func newTestRegistry() *testRegistry {
	r := &testRegistry{}
	inner := registry.New(registry.Logger(nopLogger()))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		stall, stalled := r.stall, r.stalled
		if rg := req.Header.Get("Range"); rg != "" && strings.Contains(req.URL.Path, "/blobs/") {
			r.ranges = append(r.ranges, rg)
		}
		strict := r.strictRanges
		r.mu.Unlock()
		if rg := req.Header.Get("Range"); !strict && strings.HasSuffix(rg, "-") && req.Method == http.MethodGet {
			head := httptest.NewRecorder()
			inner.ServeHTTP(head, httptest.NewRequest(http.MethodHead, req.URL.String(), nil))
			if n, err := strconv.ParseInt(head.Header().Get("Content-Length"), 10, 64); err == nil {
				req.Header.Set("Range", fmt.Sprintf("%s%d", rg, n-1))
			}
		}
		if stall == "" || req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, stall) {
			inner.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		r.mu.Lock()
		if r.stalled == stalled {
			close(stalled)
			r.stall, r.stalled = "", nil
		}
		r.mu.Unlock()
		<-req.Context().Done()
	}))
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// stallBlob makes the next GET of blob dgst send half its body and hang; the
// returned channel closes once that half is sent.
func (r *testRegistry) stallBlob(dgst string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stall, r.stalled = "/blobs/"+dgst, make(chan struct{})
	return r.stalled
}

// setStrictRanges sets strictRanges.
func (r *testRegistry) setStrictRanges(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.strictRanges = v
}

func (r *testRegistry) rangeHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// testImage is an image pushed to a testRegistry.
type testImage struct {
	ref   string // host/repo@sha256:…
	layer string // digest of its only layer
}

// buildEcho compiles testdata/echo statically into dir.
func buildEcho(dir string) (string, error) {
	out := filepath.Join(dir, "echo")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/echo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build echo: %v\n%s", err, b)
	}
	return out, nil
}

// pushEcho pushes an image with the echo binary at /echo as its entrypoint,
// env IMAGE_ENV=from-image and SHARED=image, CMD --port 8080, and a user
// model (4242) of group models (4243).
func pushEcho(ctx context.Context, reg *testRegistry, repo, binary string) (testImage, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return testImage{}, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"etc/", "tmp/", "data/"} {
		tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: time.Unix(0, 0)})
	}
	tw.WriteHeader(&tar.Header{Name: "echo", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0)})
	tw.Write(bin)
	// A user for the sandbox tests to name.
	for _, f := range [][2]string{
		{"etc/passwd", "root:x:0:0::/:/echo\nmodel:x:4242:4243::/tmp:/echo\n"},
		{"etc/group", "root:x:0:\nmodels:x:4243:\n"},
	} {
		name, content := f[0], f[1]
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)})
		tw.Write([]byte(content))
	}
	if err := tw.Close(); err != nil {
		return testImage{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		return testImage{}, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return testImage{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return testImage{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goruntime.GOARCH
	cf.Config = v1.Config{
		Entrypoint: []string{"/echo"},
		Cmd:        []string{"--port", "8080"},
		Env:        []string{"PATH=/", "IMAGE_ENV=from-image", "SHARED=image"},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return testImage{}, err
	}
	tag, err := name.ParseReference(reg.host+"/"+repo+":latest", name.Insecure)
	if err != nil {
		return testImage{}, err
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return testImage{}, err
	}
	dgst, err := img.Digest()
	if err != nil {
		return testImage{}, err
	}
	ld, err := layer.Digest()
	if err != nil {
		return testImage{}, err
	}
	return testImage{ref: reg.host + "/" + repo + "@" + dgst.String(), layer: ld.String()}, nil
}
