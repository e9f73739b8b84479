package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testdata is the absolute path of testdata/: tests change directory.
var testdata = func() string {
	p, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return p
}()

// result is one fleetctl run.
type result struct {
	stdout, stderr string
	code           int
}

// fleetctl runs the command in-process.
func fleetctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// exampleRepo is examples/fleet-repo.
var exampleRepo = func() string {
	p, err := filepath.Abs("../../examples/fleet-repo")
	if err != nil {
		panic(err)
	}
	return p
}()

// fixture is a git repo built from examples/fleet-repo with its images in
// a real registry. base is the example as is; head moves group line-a to
// defect-classifier v2, which shares its first layer with v1.
type fixture struct {
	repo       *gittest.Repo
	host       string
	base, head string
	v1, v2     string // defect-classifier digest references
	vibration  string
}

// modelImage is a deterministic two-layer image: a runtime layer shared by
// every version and a weights layer.
func modelImage(t *testing.T, weights string) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img,
		static.NewLayer(tarGz(t, "model-server", runtimeBytes()), types.OCILayer),
		static.NewLayer(tarGz(t, "model/weights.json", []byte(weights)), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// runtimeBytes is 1 MB that gzip cannot shrink, the same on every call.
func runtimeBytes() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tarGz is a gzipped tar of one file, the same bytes for the same input.
func tarGz(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

var exampleImage = regexp.MustCompile(`127\.0\.0\.1:5000/models/([a-z-]+)@sha256:[0-9a-f]{64}`)

// writeExample writes examples/fleet-repo into the work tree with its
// registry host replaced and its images replaced by refs (by repository).
func writeExample(t *testing.T, r *gittest.Repo, host string, refs map[string]string) {
	t.Helper()
	err := filepath.WalkDir(exampleRepo, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(exampleRepo, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := exampleImage.ReplaceAllStringFunc(string(data), func(m string) string {
			if ref, ok := refs[exampleImage.FindStringSubmatch(m)[1]]; ok {
				return ref
			}
			return m
		})
		r.Write(filepath.ToSlash(rel), strings.ReplaceAll(s, "127.0.0.1:5000", host))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	host := ocitest.NewRegistry(t)
	f := &fixture{repo: gittest.NewRepo(t), host: host}
	f.v1 = ocitest.Push(t, modelImage(t, `{"model":"defect","version":1}`), host+"/models/defect-classifier:v1")
	f.v2 = ocitest.Push(t, modelImage(t, `{"model":"defect","version":2,"weights":[0.1,0.2,0.3]}`), host+"/models/defect-classifier:v2")
	f.vibration = ocitest.Push(t, modelImage(t, `{"model":"vibration","version":1}`), host+"/models/vibration-anomaly:v1")
	writeExample(t, f.repo, host, map[string]string{"defect-classifier": f.v1, "vibration-anomaly": f.vibration})
	// The fleet's image key signs every image, as a release pipeline would.
	key, pub := keyPair(t, nil)
	for _, ref := range []string{f.v1, f.v2, f.vibration} {
		if r := fleetctl(t, "sign", "image", ref, "--key", key, "--plain-http"); r.code != 0 {
			t.Fatalf("sign %s: exit %d\n%s", ref, r.code, r.stderr)
		}
	}
	pem, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	f.repo.Write("trust/cosign.pub", string(pem))
	f.base = f.repo.Commit("example fleet")
	f.repo.Write("groups/line-a.yaml", `# groups/line-a.yaml
apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata:
  name: line-a
spec:
  selector:
    matchLabels: {line: a}
  workloads: [defect-classifier]
  overrides:
    defect-classifier:
      # Line A moves to the v2 weights first.
      image: `+strings.Replace(f.v2, "@", ":v2@", 1)+`
      env: {MODEL_LOG_LEVEL: debug}
`)
	f.head = f.repo.Commit("line-a: defect-classifier v2")
	return f
}

// normalize replaces what changes from run to run: the registry's port,
// commit hashes and temporary paths.
func (f *fixture) normalize(s string) string {
	s = strings.ReplaceAll(s, f.host, "REGISTRY")
	for rev, name := range map[string]string{f.base: "BASE", f.head: "HEAD"} {
		s = strings.ReplaceAll(s, rev, name)
		s = strings.ReplaceAll(s, rev[:12], name)
	}
	return strings.ReplaceAll(s, f.repo.Dir, "REPO")
}

func TestUsageExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"nosuch"}, 2},
		{[]string{"validate", "--output", "yaml"}, 2},
		{[]string{"validate", "a", "b"}, 2},
		{[]string{"validate", "--rev", "main"}, 2},
		{[]string{"plan", "--head", "main"}, 2},
		{[]string{"verify", "image", "x"}, 2},
		{[]string{"schema", "--kind", "Pod"}, 2},
		{[]string{"completion", "bash"}, 0},
	} {
		r := fleetctl(t, tc.args...)
		if r.code != tc.code {
			t.Errorf("fleetctl %s: exit %d, want %d\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		}
	}
	if r := fleetctl(t, "--help"); !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "fleetctl plan --base") {
		t.Errorf("--help does not show examples:\n%s", r.stdout)
	}
	if r := fleetctl(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "fleetctl ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--version: exit %d, printed %q, want one line \"fleetctl <version> (…)\"", r.code, r.stdout)
	}
}
