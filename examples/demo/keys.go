package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
)

// makeKeys creates the demo's signing keys and the node's trust dir.
func (d *demo) makeKeys() error {
	d.trustDir = filepath.Join(d.dir, "trust")
	if err := os.MkdirAll(d.trustDir, 0o755); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	d.imageKey = key
	pub, err := image.MarshalPublicKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.trustDir, "cosign.pub"), pub, 0o644); err != nil {
		return err
	}
	d.sshKey = filepath.Join(d.dir, "ops_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@plant-1", "-f", d.sshKey).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	sshPub, err := os.ReadFile(d.sshKey + ".pub")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.trustDir, "allowed_signers"), []byte("ops@plant-1 "+strings.TrimSpace(string(sshPub))+"\n"), 0o644)
}

// signed turns git arguments into a commit signed with the operator's SSH key.
func (d *demo) signed(args ...string) []string {
	return append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + d.sshKey}, append(args, "-S")...)
}

// enrolStatusKey asks fleetd for the node's status key before its first
// start (fleetd --print-status-key makes it in the state dir) and enrols it
// in nodes/<node>.yaml spec.statusKey, in the initial signed commit: the
// node's status reports are trusted only when signed with it.
func (d *demo) enrolStatusKey() error {
	out, err := exec.Command(d.fleetd, "--print-status-key", "--state-dir", filepath.Join(d.dir, "state"), "--node", node).Output()
	if err != nil {
		return fmt.Errorf("fleetd --print-status-key: %w", err)
	}
	d.statusKey = strings.TrimSpace(string(out))
	fmt.Printf("    %s's status key (fleetd --print-status-key): %s\n", node, d.statusKey)
	file := filepath.Join(d.work, "nodes", node+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, []byte("spec:\n  statusKey: "+d.statusKey+"\n")...), 0o644)
}

// showStatus shows the node's report as git and fleetctl status check it:
// git verify-commit with the enrolled key as the one allowed signer, and
// the fleet read back from the status refs (trusted only when so signed).
func (d *demo) showStatus(ctx context.Context) error {
	step("the report is signed with %s's status key: git verify-commit refs/heads/status/%s", node, node)
	signers := filepath.Join(d.dir, "status_signers")
	if err := os.WriteFile(signers, []byte("fleetd@"+node+" "+d.statusKey+"\n"), 0o644); err != nil {
		return err
	}
	out, err := exec.Command("git", "-C", d.bare, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", "refs/heads/status/"+node).CombinedOutput()
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("git verify-commit: %w", err)
	}
	step("fleetctl status: the fleet read back from Git")
	repo, err := source.ParseLocation("file://"+d.bare, source.Auth{})
	if err != nil {
		return err
	}
	f, err := fleetstatus.Collect(ctx, fleetstatus.Options{Repo: repo})
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := f.WriteText(&b); err != nil {
		return err
	}
	fmt.Print(indent(b.String()))
	for _, n := range f.Nodes {
		if n.Name == node && n.State == fleetstatus.Untrusted {
			return fmt.Errorf("%s's report is untrusted: %s", node, n.Untrusted)
		}
	}
	return nil
}
