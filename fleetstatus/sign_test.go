package fleetstatus_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// statusSigner is a node's status key as fleetd holds it, made from the
// node's name so that signatures, and so commits, are the same on every
// run (ed25519 signatures are deterministic): the golden files hold them.
func statusSigner(tb testing.TB, node string) ssh.Signer {
	tb.Helper()
	seed := sha256.Sum256([]byte("status key of " + node))
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// statusKeyLine is the node's spec.statusKey.
func statusKeyLine(tb testing.TB, node string) string {
	tb.Helper()
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(statusSigner(tb, node).PublicKey()))) + " fleetd@" + node
}

// signStatusRefs signs the commit of each node's status ref as fleetd
// does (an SSH signature in namespace git, in the gpgsig header) with the
// status key of signer(node); signer returns "" to leave it unsigned.
func signStatusRefs(tb testing.TB, bareDir string, nodes []string, signer func(node string) string) {
	tb.Helper()
	repo, err := git.PlainOpen(bareDir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, node := range nodes {
		by := signer(node)
		if by == "" {
			continue
		}
		name := plumbing.ReferenceName("refs/heads/status/" + node)
		ref, err := repo.Reference(name, true)
		if err != nil {
			tb.Fatal(err)
		}
		old, err := repo.CommitObject(ref.Hash())
		if err != nil {
			tb.Fatal(err)
		}
		c := &object.Commit{Author: old.Author, Committer: old.Committer, Message: old.Message, TreeHash: old.TreeHash, ParentHashes: old.ParentHashes}
		unsigned := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(unsigned); err != nil {
			tb.Fatal(err)
		}
		r, _ := unsigned.Reader()
		sig, err := sshsig.SignWithRand(r, rand.Reader, statusSigner(tb, by), sshsig.HashSHA512, "git")
		if err != nil {
			tb.Fatal(err)
		}
		c.PGPSignature = string(sshsig.Armor(sig))
		obj := repo.Storer.NewEncodedObject()
		if err := c.Encode(obj); err != nil {
			tb.Fatal(err)
		}
		h, err := repo.Storer.SetEncodedObject(obj)
		if err != nil {
			tb.Fatal(err)
		}
		if err := repo.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			tb.Fatal(err)
		}
	}
}
