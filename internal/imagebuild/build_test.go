package imagebuild_test

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

const pkg = "./examples/model-server"

func weights(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "model-server", "weights", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func build(t *testing.T, opts imagebuild.Options) v1.Image {
	t.Helper()
	img, err := imagebuild.Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildDeterministic(t *testing.T) {
	opts := func() imagebuild.Options {
		return imagebuild.Options{
			Package: pkg,
			Files: map[string][]byte{
				"/model/weights.json": weights(t, "defect-v1.json"),
				"/model/README":       []byte("defect model"),
			},
			Cmd: []string{"--listen", ":9090"},
		}
	}
	a, b := digest(t, build(t, opts())), digest(t, build(t, opts()))
	if a != b {
		t.Errorf("same input, digests %s and %s", a, b)
	}
	other := opts()
	other.Files["/model/weights.json"] = weights(t, "defect-v2.json")
	if c := digest(t, build(t, other)); c == a {
		t.Errorf("different weights, same digest %s", c)
	}
}

func TestBuildConfig(t *testing.T) {
	img := build(t, imagebuild.Options{
		Package: pkg,
		Files:   map[string][]byte{"/model/weights.json": weights(t, "defect-v1.json")},
		Cmd:     []string{"--weights", "/model/weights.json"},
		Env:     []string{"MODEL_LOG_LEVEL=debug"},
	})
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s, %v; want %s", mt, err, types.OCIManifestSchema1)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %s, want %s", m.Config.MediaType, types.OCIConfigJSON)
	}
	for i, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer %d media type = %s, want %s", i, l.MediaType, types.OCILayer)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if want := []string{"/model-server"}; !slices.Equal(cfg.Config.Entrypoint, want) {
		t.Errorf("entrypoint = %q, want %q", cfg.Config.Entrypoint, want)
	}
	if want := []string{"--weights", "/model/weights.json"}; !slices.Equal(cfg.Config.Cmd, want) {
		t.Errorf("cmd = %q, want %q", cfg.Config.Cmd, want)
	}
	if len(cfg.Config.Env) != 2 || !strings.HasPrefix(cfg.Config.Env[0], "PATH=") || cfg.Config.Env[1] != "MODEL_LOG_LEVEL=debug" {
		t.Errorf("env = %q, want a PATH and MODEL_LOG_LEVEL=debug", cfg.Config.Env)
	}
	if cfg.Config.WorkingDir != "/" {
		t.Errorf("working dir = %q, want /", cfg.Config.WorkingDir)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || len(cfg.History) != 2 {
		t.Errorf("diff IDs %d, history %d; want 2 each", len(cfg.RootFS.DiffIDs), len(cfg.History))
	}
}

func TestBuildCrossArch(t *testing.T) {
	img := build(t, imagebuild.Options{Package: pkg, GOARCH: "arm64", Entrypoint: []string{"/model-server", "--listen", ":80"}})
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" {
		t.Errorf("architecture = %s, want arm64", cfg.Architecture)
	}
	if want := []string{"/model-server", "--listen", ":80"}; !slices.Equal(cfg.Config.Entrypoint, want) {
		t.Errorf("entrypoint = %q, want %q", cfg.Config.Entrypoint, want)
	}
	if m, _ := img.Manifest(); len(m.Layers) != 1 {
		t.Errorf("layers = %d, want 1 (no files)", len(m.Layers))
	}
}

func TestBuildErrors(t *testing.T) {
	for _, opts := range []imagebuild.Options{
		{},
		{Package: "./examples/does-not-exist"},
		{Package: pkg, Files: map[string][]byte{"relative/path": nil}},
	} {
		if _, err := imagebuild.Build(context.Background(), opts); err == nil {
			t.Errorf("Build(%+v) succeeded, want error", opts)
		}
	}
}

func TestPush(t *testing.T) {
	host := ocitest.NewRegistry(t)
	img := build(t, imagebuild.Options{Package: pkg})
	d := digest(t, img)
	ctx := context.Background()
	for _, ref := range []string{host + "/m/s:v1", host + "/m/s", host + "/m/s@" + d.String()} {
		got, err := imagebuild.Push(ctx, img, ref)
		if err != nil {
			t.Fatalf("Push(%s): %v", ref, err)
		}
		if want := host + "/m/s@" + d.String(); got != want {
			t.Errorf("Push(%s) = %s, want %s", ref, got, want)
		}
	}
	tag, err := name.NewTag(host+"/m/s:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(tag); err != nil {
		t.Errorf("tag v1 not pushed: %v", err)
	}
	wrong := host + "/m/s@sha256:" + strings.Repeat("0", 64)
	if _, err := imagebuild.Push(ctx, img, wrong); err == nil {
		t.Error("push to a digest of another image succeeded")
	}
	if _, err := imagebuild.Push(ctx, img, "UPPER/case"); err == nil {
		t.Error("push to an invalid reference succeeded")
	}
}

// TestBinaryRunsFromLayer unpacks the image's file system and runs the
// model-server from it, as a container runtime would.
func TestBinaryRunsFromLayer(t *testing.T) {
	img := build(t, imagebuild.Options{
		Package: pkg,
		Files:   map[string][]byte{"/model/weights.json": weights(t, "defect-v1.json")},
	})
	root := t.TempDir()
	extract(t, img, root)
	for _, p := range []string{"model-server", "model/weights.json", "tmp"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.GOOS != "linux" {
		t.Fatalf("the image holds a linux binary; this test runs on linux only, not %s", runtime.GOOS)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "model-server"),
		"--weights", filepath.Join(root, "model/weights.json"), "--listen", "127.0.0.1:0")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a
	case <-ctx.Done():
		t.Fatal("model-server did not log its address")
	}

	var health int
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if health = resp.StatusCode; health == http.StatusOK {
				break
			}
		}
	}
	if health != http.StatusOK {
		t.Fatalf("healthz = %d, want 200", health)
	}
	resp, err := http.Post(url+"/predict", "application/json", strings.NewReader(`{"features":[85,3.0,95,1500]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Model       string
		Probability float64
		Label       int
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("predict = %s, %v", resp.Status, err)
	}
	if got.Model != "v1" || got.Label != 1 || got.Probability < 0.5 {
		t.Errorf("predict = %+v, want model v1, label 1", got)
	}

	// SIGINT (like SIGTERM) shuts it down cleanly.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("exit after SIGINT: %v, want status 0", err)
		} else {
			t.Error(err)
		}
	}
}

// extract writes img's flattened file system under dir.
func extract(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want epoch and root", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid)
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			t.Fatalf("entry %q escapes the root", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s of type %c", hdr.Name, hdr.Typeflag)
		}
	}
}
