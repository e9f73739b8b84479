package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/sticktest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/usb"
)

// spoil mounts the stick in the office, changes its gitfleet/ folder and
// takes it out again.
func (a *airgap) spoil(s *sticktest.Stick, f func(dir string, m *usb.Manifest)) {
	a.t.Helper()
	s.Mount(filepath.Join(a.t.TempDir(), "office"))
	dir := filepath.Join(s.Dir, usb.Dir)
	b, err := os.ReadFile(filepath.Join(dir, usb.ManifestFile))
	if err != nil {
		a.t.Fatal(err)
	}
	m, err := usb.ParseManifest(b)
	if err != nil {
		a.t.Fatal(err)
	}
	f(dir, m)
	s.Unmount()
}

// layer is the path of the image's largest blob on the stick.
func layer(m *usb.Manifest, dir string) string {
	var big usb.File
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "images/blobs/") && f.Size > big.Size {
			big = f
		}
	}
	return filepath.Join(dir, filepath.FromSlash(big.Path))
}

// report reads the node's status report from the stick.
func (a *airgap) report(s *sticktest.Stick) source.Report {
	a.t.Helper()
	s.Mount(filepath.Join(a.t.TempDir(), "office"))
	defer s.Unmount()
	loc, err := source.LocalRepository(filepath.Join(s.Dir, usb.Dir, usb.RepoDir))
	if err != nil {
		a.t.Fatal(err)
	}
	reps, err := source.ReadReports(context.Background(), loc)
	if err != nil {
		a.t.Fatal(err)
	}
	return reps["press-01"]
}

// visit plugs the stick in, waits for the node to be done with it (the
// n-th stick the node handles) and pulls it out.
func (a *airgap) visit(node *daemon, s *sticktest.Stick, label, wait string, n int) string {
	a.t.Helper()
	a.plug(s, label)
	out := node.waitLog(a.t, wait, n)
	s.Pull()
	return out
}

// TestUSBStickBadInput plugs bad sticks into an offline node, one after
// the other: each is refused or recovered with a message naming its cause,
// what runs is not disturbed, and nothing is left half-written.
func TestUSBStickBadInput(t *testing.T) {
	a := newAirgap(t)
	v1 := a.model("defect-v1.json")
	a.fleet.Commit("defect v1")
	old := a.stick(sticktest.Ext4) // revision 1, to come back later
	v2 := a.model("defect-v2.json")
	a.fleet.Commit("defect v2")
	good := a.stick(sticktest.Ext4)

	tamper := func(dir string, m *usb.Manifest) {
		p := layer(m, dir)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damaged := a.stick(sticktest.Ext4)
	a.spoil(damaged, tamper)
	// manifest.json is not signed: whoever tampers with a blob can drop it
	// from the list too. containerd checks its digest then.
	tampered := a.stick(sticktest.Ext4)
	a.spoil(tampered, func(dir string, m *usb.Manifest) {
		tamper(dir, m)
		blob := "images/blobs/sha256/" + filepath.Base(layer(m, dir))
		m.Files = slices.DeleteFunc(m.Files, func(f usb.File) bool { return f.Path == blob })
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, usb.ManifestFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	truncated := a.stick(sticktest.Ext4)
	a.spoil(truncated, func(dir string, m *usb.Manifest) {
		if err := os.Truncate(layer(m, dir), 4096); err != nil {
			t.Fatal(err)
		}
	})
	missing := a.stick(sticktest.Ext4)
	var missingBlob string
	a.spoil(missing, func(dir string, m *usb.Manifest) {
		p := layer(m, dir)
		missingBlob = filepath.Base(p)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	})
	linked := a.stick(sticktest.Ext4)
	a.spoil(linked, func(dir string, m *usb.Manifest) {
		p := layer(m, dir)
		os.Remove(p)
		if err := os.Symlink("/etc/shadow", p); err != nil {
			t.Fatal(err)
		}
	})
	a.fleet.Repo.Write("README", "an unsigned change")
	unsignedRev := a.fleet.CommitUnsigned("unsigned")
	unsigned := a.stick(sticktest.Ext4)
	a.stopReg()

	node := a.startNode()
	done := 0
	// Refused before anything is read: the file is named.
	for _, c := range []struct {
		s    *sticktest.Stick
		want string
	}{
		{truncated, "truncated"},
		{damaged, "damaged: sha256"},
		{missing, missingBlob},
		{linked, "symbolic link (to /etc/shadow)"},
	} {
		out := a.visit(node, c.s, "BAD", "usb stick refused", done+1)
		done++
		if line := lastLine(out, "usb stick refused"); !strings.Contains(line, c.want) {
			t.Errorf("refusal %q does not say %q", line, c.want)
		}
		if got := a.running(); got != "" {
			t.Fatalf("a refused stick started %s", got)
		}
	}

	// The tampered blob fails its digest in containerd: refused, reported
	// on the stick, nothing imported.
	a.visit(node, tampered, "TAMPERED", "safe to remove", 1)
	if rep := a.report(tampered); rep.Status == nil || !strings.Contains(errorsOf(rep), "does not match its digest") {
		t.Errorf("status on the tampered stick: %+v, want the digest mismatch", rep.Status)
	}
	if got := a.running(); got != "" {
		t.Fatalf("the tampered stick started %s", got)
	}

	// The good stick applies v2.
	a.visit(node, good, "GOOD", "safe to remove", 2)
	if got := a.running(); got != v2 {
		t.Fatalf("after the good stick defect runs %q, want %s", got, v2)
	}

	// An older revision is refused: v2 keeps running.
	a.visit(node, old, "OLD", "safe to remove", 3)
	if got := a.running(); got != v2 {
		t.Fatalf("after the older stick defect runs %q, want %s still", got, v2)
	}
	if rep := a.report(old); rep.Status == nil || !strings.Contains(errorsOf(rep), "descend") {
		t.Errorf("status on the older stick: %+v, want the refusal to go back", rep.Status)
	}
	_ = v1

	// An unsigned commit is refused, as online.
	a.visit(node, unsigned, "UNSIGNED", "safe to remove", 4)
	if got := a.running(); got != v2 {
		t.Fatalf("after the unsigned stick defect runs %q, want %s still", got, v2)
	}
	if rep := a.report(unsigned); rep.Status == nil || rep.Status.Status.AppliedRevision == unsignedRev || !strings.Contains(errorsOf(rep), "sign") {
		t.Errorf("status on the unsigned stick: %+v, want a refused signature", rep.Status)
	}
}

// TestUSBStickFullOnWriteBack: a stick with no room left for the node's
// report keeps its previous valid state; the log says why.
func TestUSBStickFullOnWriteBack(t *testing.T) {
	a := newAirgap(t)
	ref := a.model("defect-v1.json")
	a.fleet.Commit("defect v1")
	s := a.stick(sticktest.Ext4)
	a.spoil(s, func(dir string, _ *usb.Manifest) {
		// Fill every free block, then what small files still find.
		out, _ := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(filepath.Dir(dir), "filler"), "bs=1M").CombinedOutput()
		if !strings.Contains(string(out), "No space left") {
			t.Fatalf("filling the stick: %s", out)
		}
		for i := 0; ; i++ {
			f := filepath.Join(filepath.Dir(dir), fmt.Sprintf("crumb%d", i))
			if err := os.WriteFile(f, make([]byte, 4096), 0o644); err != nil {
				break
			}
			if i > 100000 {
				t.Fatal("the stick never fills")
			}
		}
	})
	a.stopReg()
	node := a.startNode()
	out := a.visit(node, s, "FULL", "status not written", 1)
	if line := lastLine(out, "status not written"); !strings.Contains(line, "no space left") {
		t.Errorf("log %q does not say the stick is full", line)
	}
	if got := a.running(); got != ref {
		t.Fatalf("defect runs %q, want %s: a full stick must not stop the update", got, ref)
	}
	if report, err := s.Fsck(); err != nil {
		t.Fatalf("fsck: %v\n%s", err, report)
	}
	s.Mount(filepath.Join(t.TempDir(), "office"))
	repo := filepath.Join(s.Dir, usb.Dir, usb.RepoDir)
	gittest.Git(t, repo, "-c", "safe.directory=*", "fsck", "--no-dangling")
	if _, err := usb.Open(filepath.Join(s.Dir, usb.Dir)); err != nil {
		t.Errorf("the stick is no longer whole: %v", err)
	}
}

// lastLine is the last line of out holding msg.
func lastLine(out, msg string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], msg) {
			return lines[i]
		}
	}
	return ""
}

func errorsOf(r source.Report) string {
	var b strings.Builder
	for _, e := range r.Status.Status.Errors {
		b.WriteString(e.Reason + "; ")
	}
	for _, c := range r.Status.Status.Conditions {
		b.WriteString(c.Message + "; ")
	}
	return b.String()
}

// TestUSBStickPulledMidRead pulls a vfat stick out while the node imports
// its image: the pass fails, nothing runs from it, and the same stick
// plugged in again is applied in full.
func TestUSBStickPulledMidRead(t *testing.T) {
	a := newAirgap(t)
	// The model server with 48 MiB of weights in a layer of their own.
	weights, err := random.Layer(48<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	big, err := mutate.AppendLayers(ocitest.ModelServerImageLocal(t, "defect-v1.json"), weights)
	if err != nil {
		t.Fatal(err)
	}
	ref := ocitest.Push(t, big, a.fleet.Registry+"/models/big")
	a.fleet.Sign(ref)
	a.fleet.Workload("defect", ref, "--listen", fmt.Sprintf("127.0.0.1:%d", a.port))
	a.fleet.Commit("a big model")
	s := sticktest.New(t, sticktest.Vfat, 160, "")
	s.Mount(filepath.Join(t.TempDir(), "office"))
	if out, err := a.fleetctl("usb", "export", "--repo", a.central, "--out", s.Dir, "--node", "press-01"); err != nil {
		t.Fatalf("fleetctl usb export: %v\n%s", err, out)
	}
	s.Unmount()
	a.stopReg()

	node := a.startNode()
	a.plug(s, "STICK")
	node.waitLog(t, "usb stick ready", 1)
	s.Yank()
	// The stick's handling ends one of two ways: done or failed.
	var out string
	deadline := time.Now().Add(3 * time.Minute)
	for out = node.output(); !strings.Contains(out, "safe to remove") && !strings.Contains(out, "status not written"); out = node.output() {
		if time.Now().After(deadline) {
			t.Fatalf("fleetd logged neither the stick done nor failed:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(out, "safe to remove") {
		t.Log("the import finished before the stick was pulled: the cut came too late to test a torn read")
	} else if line := lastLine(out, "status not written"); line == "" {
		t.Fatalf("no failure logged after the stick was pulled:\n%s", out)
	}
	// What runs, if anything, is the whole image; then the stick again.
	if got := a.running(); got != "" && got != ref {
		t.Fatalf("defect runs %q", got)
	}
	a.plug(s, "STICK")
	node.waitLog(t, "safe to remove", 1)
	if got := a.running(); got != ref {
		t.Fatalf("after the stick came back defect runs %q, want %s", got, ref)
	}
}
