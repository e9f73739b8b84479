package main

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/usb"
)

// usbSticks measures the air-gap channel: a node with no network takes a
// stick carrying one new 200 MB model (a delta stick: the base layers are
// on the node already) and imports it into its own containerd, beside
// `ctr images import` of the same image from an OCI archive on a fresh
// containerd; the time from the stick being mounted to the new container
// running; and the bytes of the delta stick beside a full one.
func usbSticks(ctx context.Context, e *env) (string, error) {
	dir := filepath.Join(e.tmp, "usb")
	s, err := newUSBSite(ctx, dir)
	if err != nil {
		return "", err
	}
	defer s.close()
	// The node ran the base version from a first stick, whose status came
	// home: the delta is judged from it.
	first, _, err := s.export("stick-base")
	if err != nil {
		return "", err
	}
	baseImg := filepath.Join(dir, "base.img")
	if err := stickImage(first, baseImg); err != nil {
		return "", err
	}
	warm, err := newUSBNode(ctx, s, filepath.Join(dir, "warm"))
	if err != nil {
		return "", err
	}
	_, err = warm.plug(ctx, baseImg, s.base)
	warm.close()
	if err != nil {
		return "", err
	}
	office := filepath.Join(dir, "office")
	if err := mountImage(baseImg, office); err != nil {
		return "", err
	}
	err = s.importStatus(office)
	exec.Command("umount", office).Run()
	if err != nil {
		return "", err
	}
	if _, err := s.commit(s.model); err != nil {
		return "", err
	}
	full, fullBytes, err := s.export("stick-full")
	if err != nil {
		return "", err
	}
	delta, deltaBytes, err := s.export("stick-delta", "--since-status")
	if err != nil {
		return "", err
	}
	deltaImg := filepath.Join(dir, "delta.img")
	if err := stickImage(delta, deltaImg); err != nil {
		return "", err
	}
	// The reference reads its archive from a stick too: both go through a
	// loop-mounted ext4.
	archiveDir := filepath.Join(dir, "archive")
	if err := os.MkdirAll(archiveDir, 0o755); err != nil {
		return "", err
	}
	if err := ociArchive(filepath.Join(full, usb.Dir, usb.ImagesDir), s.model, filepath.Join(archiveDir, "model.tar")); err != nil {
		return "", err
	}
	archiveImg := filepath.Join(dir, "archive.img")
	if err := stickImage(archiveDir, archiveImg); err != nil {
		return "", err
	}
	archiveMnt := filepath.Join(dir, "archive-stick")
	if err := mountImage(archiveImg, archiveMnt); err != nil {
		return "", err
	}
	defer exec.Command("umount", archiveMnt).Run()
	archive := filepath.Join(archiveMnt, "model.tar")

	var imports, ctrImports, toRunning []time.Duration
	for i := range e.n {
		n, err := newUSBNode(ctx, s, filepath.Join(dir, fmt.Sprintf("node-%d", i)))
		if err != nil {
			return "", err
		}
		if _, err := n.plug(ctx, baseImg, s.base); err != nil {
			n.close()
			return "", err
		}
		r, err := n.plug(ctx, deltaImg, s.model)
		n.close()
		if err != nil {
			return "", err
		}
		imports = append(imports, r.imported)
		toRunning = append(toRunning, r.running)
		d, err := ctrImport(archive)
		if err != nil {
			return "", err
		}
		ctrImports = append(ctrImports, d)
	}
	imp, ref := median(imports), median(ctrImports)
	run := median(toRunning)
	var b strings.Builder
	b.WriteString("## USB stick (air-gapped node)\n\n")
	fmt.Fprintf(&b, "The real `fleetd --usb-root` in a network namespace of its own (loopback only, no repo, no registry) with a private containerd; the stick is an ext4 image loop-mounted under the usb root. The node runs the base model server from a first stick, whose status report `fleetctl usb import` brought home; then `fleetctl usb export --since-status` writes a delta stick with a new version carrying %d MB of new weights in one layer. A fresh node and containerd per run.\n\n", usbModelBytes>>20)
	b.WriteString("| measure | median | worst |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| import of the new model from the stick (`fleetd`: digests checked, unpacked) | %s | %s |\n", ms(imp), ms(slicesMax(imports)))
	fmt.Fprintf(&b, "| `ctr images import` of the same image from an OCI archive on a stick (fresh containerd, unpacked) | %s | %s |\n", ms(ref), ms(slicesMax(ctrImports)))
	fmt.Fprintf(&b, "| stick mounted → new container running | %s | %s |\n", ms(run), ms(slicesMax(toRunning)))
	fmt.Fprintf(&b, "| the same, less the import (quiet period 0.5 s, checks, verification, start) | %s | |\n", ms(run-imp))
	fmt.Fprintf(&b, "\nImport against `ctr images import`: %.2f× (target ≤ 1.2×). Mounted to running, less the import: %s (target ≤ 2 s).\n\n", float64(imp)/float64(ref), ms(run-imp))
	b.WriteString("| stick | bytes |\n|---|---|\n")
	fmt.Fprintf(&b, "| full (`fleetctl usb export`) | %.1f MiB |\n", float64(fullBytes)/(1<<20))
	fmt.Fprintf(&b, "| delta (`--since-status`: the base layers the node holds left out) | %.1f MiB |\n", float64(deltaBytes)/(1<<20))
	return b.String(), nil
}

// usbNode is fleetd on a fresh containerd, in a network namespace of its
// own, watching a usb root.
type usbNode struct {
	dir, root string
	ctd       *runtimetest.Daemon
	rt        *runtime.Containerd
	agent     *exec.Cmd
	lines     chan string
}

func newUSBNode(ctx context.Context, s *usbSite, dir string) (_ *usbNode, err error) {
	n := &usbNode{dir: dir, root: filepath.Join(dir, "media"), lines: make(chan string, 256)}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := os.MkdirAll(n.root, 0o755); err != nil {
		return nil, err
	}
	if n.ctd, err = runtimetest.Start(runtimetest.Options{}); err != nil {
		return nil, err
	}
	if n.rt, err = runtime.New(ctx, runtime.Config{Address: n.ctd.Address, LogDir: filepath.Join(dir, "logs")}, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	n.agent = exec.Command("unshare", "--net", "--", s.fleetd, "--node", "bench-01", "--labels", "line=a",
		"--containerd-address", n.ctd.Address, "--state-dir", filepath.Join(dir, "state"), "--trust-dir", s.trust,
		"--usb-root", n.root)
	stderr, err := n.agent.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := n.agent.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case n.lines <- sc.Text():
			default:
			}
		}
	}()
	return n, nil
}

func (n *usbNode) close() {
	if n.agent != nil && n.agent.Process != nil {
		n.agent.Process.Kill()
		n.agent.Wait()
	}
	if n.rt != nil {
		n.rt.Close()
	}
	if n.ctd != nil {
		n.ctd.Stop()
	}
}

// plugged is what one stick took.
type plugged struct {
	imported time.Duration // fleetd's own account of the import
	running  time.Duration // mount returned → the container of ref runs
}

var importedRE = regexp.MustCompile(`msg="imported image".* duration=(\S+)`)

// plug mounts the stick image under the usb root, waits until the
// container of ref runs and fleetd is done with the stick, and unmounts.
func (n *usbNode) plug(ctx context.Context, img, ref string) (plugged, error) {
	var p plugged
	mnt := filepath.Join(n.root, "operator", filepath.Base(img))
	if err := mountImage(img, mnt); err != nil {
		return p, err
	}
	defer exec.Command("umount", mnt).Run()
	start := time.Now()
	deadline := time.After(5 * time.Minute)
	for p.running == 0 {
		ins, err := n.rt.List(ctx)
		if err != nil {
			return p, err
		}
		for _, in := range ins {
			if in.Image == ref && in.State == "running" {
				p.running = time.Since(start)
			}
		}
		select {
		case <-deadline:
			return p, fmt.Errorf("%s never ran from %s", ref, img)
		case <-time.After(10 * time.Millisecond):
		}
	}
	for {
		select {
		case line := <-n.lines:
			if m := importedRE.FindStringSubmatch(line); m != nil && strings.Contains(line, ref) {
				p.imported, _ = time.ParseDuration(m[1])
			}
			if strings.Contains(line, "usb stick refused") || strings.Contains(line, "status not written") {
				return p, fmt.Errorf("fleetd: %s", line)
			}
			if strings.Contains(line, "safe to remove") {
				return p, nil
			}
		case <-deadline:
			return p, fmt.Errorf("fleetd never finished with %s", img)
		}
	}
}

func mountImage(img, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount %s: %v: %s", img, err, out)
	}
	return nil
}

// ctrImport times `ctr images import` of archive on a fresh containerd.
func ctrImport(archive string) (time.Duration, error) {
	d, err := runtimetest.Start(runtimetest.Options{})
	if err != nil {
		return 0, err
	}
	defer d.Stop()
	start := time.Now()
	out, err := exec.Command("ctr", "-a", d.Address, "-n", "reference", "images", "import", archive).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ctr images import: %v: %s", err, out)
	}
	return time.Since(start), nil
}

// ociArchive writes an OCI archive (a tar of an image layout) holding ref
// alone, its blobs taken from the layout in dir.
func ociArchive(dir, ref, out string) error {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return err
	}
	var idx struct {
		Manifests []map[string]any `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return err
	}
	var entry map[string]any
	for _, m := range idx.Manifests {
		if a, _ := m["annotations"].(map[string]any); a != nil && a["org.opencontainers.image.ref.name"] == ref {
			entry = m
		}
	}
	if entry == nil {
		return fmt.Errorf("%s is not in %s", ref, dir)
	}
	dgst, _ := entry["digest"].(string)
	raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(dgst, "sha256:")))
	if err != nil {
		return err
	}
	var man struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		return err
	}
	blobs := []string{dgst, man.Config.Digest}
	for _, l := range man.Layers {
		blobs = append(blobs, l.Digest)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{entry}})
	for name, data := range map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": index} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	for _, d := range blobs {
		p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + filepath.Base(p), Mode: 0o644, Size: fi.Size()}); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
