package sticktest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/spec"
)

// Fleet is a fleet repo whose commits are signed with an SSH key and whose
// images are signed with a cosign key, both trusted by the node trust dir
// it writes, as a real site would have it.
type Fleet struct {
	t        testing.TB
	Repo     *gittest.Repo
	Registry string
	// TrustDir is a node's trust dir: allowed_signers and cosign.pub.
	TrustDir string
	ImageKey crypto.Signer
	sshKey   string
}

// NewFleet starts a fleet repo for the images in registry (plain HTTP).
func NewFleet(t testing.TB, registry string) *Fleet {
	t.Helper()
	f := &Fleet{t: t, Repo: gittest.NewRepo(t), Registry: registry, TrustDir: t.TempDir()}
	keys := t.TempDir()
	f.sshKey = filepath.Join(keys, "ops")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@site", "-f", f.sshKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(f.sshKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f.write(filepath.Join(f.TrustDir, "allowed_signers"), "ops@site "+strings.TrimSpace(string(pub))+"\n")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.ImageKey = k
	cosignPub, err := image.MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f.write(filepath.Join(f.TrustDir, "cosign.pub"), string(cosignPub))
	f.Repo.Write("fleet.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: site}
spec:
  pollInterval: 1h
  registries: [{host: %q, plainHTTP: true}]
`, registry))
	return f
}

func (f *Fleet) write(path, data string) {
	f.t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// Sign signs ref (pinned) with the image key, legacy format and sigstore
// bundle both.
func (f *Fleet) Sign(ref string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := image.Options{Registries: []spec.Registry{{Host: f.Registry, PlainHTTP: true}}}
	if err := image.SignLegacy(ctx, ref, f.ImageKey, opts); err != nil {
		f.t.Fatal(err)
	}
	if err := image.SignBundle(ctx, ref, f.ImageKey, opts); err != nil {
		f.t.Fatal(err)
	}
}

// Node writes nodes/<name>.yaml with labels.
func (f *Fleet) Node(name string, labels map[string]string) {
	var kv []string
	for k, v := range labels {
		kv = append(kv, k+": "+v)
	}
	sort.Strings(kv)
	f.Repo.Write("nodes/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata:
  name: %s
  labels: {%s}
`, name, strings.Join(kv, ", ")))
}

// Workload writes workloads/<name>.yaml running image with args.
func (f *Fleet) Workload(name, image string, args ...string) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	f.Repo.Write("workloads/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: %s}
spec:
  image: %s
  args: [%s]
  resources: {memory: 64Mi, cpu: "0.5"}
`, name, image, strings.Join(q, ", ")))
}

// Group writes groups/<name>.yaml selecting k=v and running workloads.
func (f *Fleet) Group(name, selector string, workloads ...string) {
	k, v, _ := strings.Cut(selector, "=")
	f.Repo.Write("groups/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: %s}
spec:
  selector: {matchLabels: {%s: %s}}
  workloads: [%s]
`, name, k, v, strings.Join(workloads, ", ")))
}

// Commit commits the work tree signed with the trusted SSH key, pushes it
// and returns the commit.
func (f *Fleet) Commit(msg string) string {
	f.t.Helper()
	gittest.Git(f.t, f.Repo.Dir, "add", "-A")
	gittest.Git(f.t, f.Repo.Dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+f.sshKey, "commit", "-q", "-S", "--allow-empty", "-m", msg)
	gittest.Git(f.t, f.Repo.Dir, "push", "-q", "--force", "origin", "main")
	return f.Repo.Head()
}

// CommitUnsigned commits and pushes without a signature.
func (f *Fleet) CommitUnsigned(msg string) string {
	f.t.Helper()
	gittest.Git(f.t, f.Repo.Dir, "add", "-A")
	gittest.Git(f.t, f.Repo.Dir, "commit", "-q", "--allow-empty", "-m", msg)
	gittest.Git(f.t, f.Repo.Dir, "push", "-q", "--force", "origin", "main")
	return f.Repo.Head()
}
