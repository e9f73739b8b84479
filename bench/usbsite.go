package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/usb"
)

// usbModelBytes is the size of the new model's weights.
const usbModelBytes = 200 << 20

// usbSite is an office for the USB measurements: a registry holding a
// small model server (the base, running on the node) and the same server
// with 200 MB of new weights, both signed; a fleet repo with signed
// commits; fleetd and fleetctl built; the node's trust dir.
type usbSite struct {
	dir, work, bare, trust string
	registry               string
	reg                    *http.Server
	sshKey                 string
	imgKey                 *ecdsa.PrivateKey
	base, model            string // image refs
	fleetd, fleetctl       string
	port                   int
}

func newUSBSite(ctx context.Context, dir string) (_ *usbSite, err error) {
	s := &usbSite{dir: dir, work: filepath.Join(dir, "work"), bare: filepath.Join(dir, "fleet.git"), trust: filepath.Join(dir, "trust")}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.registry = ln.Addr().String()
	s.reg = &http.Server{Handler: ocitest.Handler()}
	go s.reg.Serve(ln)
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	weights, err := os.ReadFile("examples/model-server/weights/defect-v1.json")
	if err != nil {
		return nil, err
	}
	base, err := imagebuild.Build(ctx, imagebuild.Options{Package: "./examples/model-server", Files: map[string][]byte{"/model/weights.json": weights}})
	if err != nil {
		return nil, err
	}
	if s.base, err = imagebuild.Push(ctx, base, s.registry+"/models/defect"); err != nil {
		return nil, err
	}
	big := make([]byte, usbModelBytes) // weights do not compress
	if _, err := rand.Read(big); err != nil {
		return nil, err
	}
	model, err := imagebuild.Build(ctx, imagebuild.Options{Package: "./examples/model-server",
		Files: map[string][]byte{"/model/weights.json": weights, "/model/extra.bin": big}})
	if err != nil {
		return nil, err
	}
	if s.model, err = imagebuild.Push(ctx, model, s.registry+"/models/defect"); err != nil {
		return nil, err
	}
	if err := s.keys(ctx); err != nil {
		return nil, err
	}
	for bin, pkg := range map[*string]string{&s.fleetd: "./cmd/fleetd", &s.fleetctl: "./cmd/fleetctl"} {
		*bin = filepath.Join(dir, filepath.Base(pkg))
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", *bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v: %s", pkg, err, out)
		}
	}
	return s, s.initRepo()
}

func (s *usbSite) close() {
	if s.reg != nil {
		s.reg.Close()
	}
}

// keys makes the commit key (ssh) and the image key, signs both images
// and writes the node's trust dir.
func (s *usbSite) keys(ctx context.Context) error {
	if err := os.MkdirAll(s.trust, 0o755); err != nil {
		return err
	}
	s.sshKey = filepath.Join(s.dir, "ops")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@site", "-f", s.sshKey).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(s.sshKey + ".pub")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.trust, "allowed_signers"), []byte("ops@site "+string(pub)), 0o644); err != nil {
		return err
	}
	if s.imgKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return err
	}
	cosignPub, err := image.MarshalPublicKey(s.imgKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.trust, "cosign.pub"), cosignPub, 0o644); err != nil {
		return err
	}
	opts := image.Options{Registries: []spec.Registry{{Host: s.registry, PlainHTTP: true}}}
	for _, ref := range []string{s.base, s.model} {
		if err := image.SignLegacy(ctx, ref, s.imgKey, opts); err != nil {
			return err
		}
	}
	return nil
}

func (s *usbSite) initRepo() error {
	if err := os.MkdirAll(filepath.Join(s.work, "nodes"), 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-C", s.dir, "init", "-q", "--bare", "-b", "main", s.bare},
		{"remote", "add", "origin", s.bare},
	} {
		if out, err := gitCmd(s.work, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	files := map[string]string{
		"fleet.yaml":          fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: site}\nspec:\n  pollInterval: 1h\n  registries: [{host: %q, plainHTTP: true}]\n", s.registry),
		"nodes/bench-01.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: bench-01\n  labels: {line: a}\n",
		"groups/line-a.yaml":  "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [defect]\n",
	}
	if err := os.MkdirAll(filepath.Join(s.work, "groups"), 0o755); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.work, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	_, err := s.commit(s.base)
	return err
}

// commit makes ref the defect workload's image in a signed commit.
func (s *usbSite) commit(ref string) (string, error) {
	if err := os.MkdirAll(filepath.Join(s.work, "workloads"), 0o755); err != nil {
		return "", err
	}
	y := fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: defect}\nspec:\n  image: %s\n  args: [\"--listen\", \"127.0.0.1:%d\"]\n  ports: [%d]\n", ref, s.port, s.port)
	if err := os.WriteFile(filepath.Join(s.work, "workloads", "defect.yaml"), []byte(y), 0o644); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"add", "-A"},
		{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + s.sshKey, "commit", "-q", "-S", "-m", "defect " + ref},
		{"push", "-q", "origin", "main"}} {
		if out, err := gitCmd(s.work, args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	out, err := gitCmd(s.work, "rev-parse", "HEAD").Output()
	return strings.TrimSpace(string(out)), err
}

// export writes a stick for bench-01 into a new folder and returns it with
// the bytes its manifest lists.
func (s *usbSite) export(name string, extra ...string) (string, int64, error) {
	out := filepath.Join(s.dir, name)
	args := append([]string{"usb", "export", "--repo", "file://" + s.bare, "--out", out, "--node", "bench-01"}, extra...)
	if b, err := exec.Command(s.fleetctl, args...).CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("fleetctl %v: %v: %s", args, err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, usb.Dir, usb.ManifestFile))
	if err != nil {
		return "", 0, err
	}
	var m usb.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return "", 0, err
	}
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return out, n, nil
}

// importStatus brings the node's report from a stick folder home.
func (s *usbSite) importStatus(stick string) error {
	if b, err := exec.Command(s.fleetctl, "usb", "import", stick, "--repo", "file://"+s.bare).CombinedOutput(); err != nil {
		return fmt.Errorf("fleetctl usb import: %v: %s", err, b)
	}
	return nil
}

// stickImage makes an ext4 image holding folder's content.
func stickImage(folder, img string) error {
	var size int64
	filepath.Walk(folder, func(_ string, fi os.FileInfo, err error) error {
		if err == nil {
			size += fi.Size()
		}
		return nil
	})
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(size + size/4 + 64<<20)
	f.Close()
	if err != nil {
		return err
	}
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-d", folder, img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}
