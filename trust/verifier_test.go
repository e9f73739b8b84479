package trust

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/reconciler"
)

var _ reconciler.CommitVerifier = (*Checker)(nil)

// wantRefused fails unless err is a refusal naming commit and saying want.
func wantRefused(t *testing.T, err error, commit, want string) {
	t.Helper()
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	t.Log(err)
	if msg := err.Error(); !strings.Contains(msg, commit) || !strings.Contains(msg, want) {
		t.Fatalf("err = %q\nwant it to name %s and say %q", msg, commit, want)
	}
}

func TestVerifierModes(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	ops := newGPGKey(t, "Ops")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line, "ops.asc": string(ops.armored)})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	r.commit(alice.sign(), "one")
	r.commit(ops.sign(), "two")
	c3 := r.commit(alice.sign(), "three")
	r.commit(alice.sign(), "four")
	u2 := r.commit(signer{}, "five, unsigned")
	u3 := r.commit(ops.sign(), "six")
	ctx := context.Background()

	head := NewVerifier(r.open, local, Options{})
	all := NewVerifier(r.open, local, Options{Mode: ModeAll})
	for _, v := range []*Verifier{head, all} {
		if err := v.VerifyCommit(ctx, c3, base); err != nil {
			t.Fatalf("mode %q, 3 signed commits: %v", v.opts.Mode, err)
		}
		if err := v.VerifyCommit(ctx, c3, ""); err != nil {
			t.Fatalf("mode %q, first apply: %v", v.opts.Mode, err)
		}
		if err := v.VerifyCommit(ctx, c3, c3); err != nil {
			t.Fatalf("mode %q, same revision: %v", v.opts.Mode, err)
		}
	}
	// Head mode looks at the head only; all mode finds the unsigned middle.
	if err := head.VerifyCommit(ctx, u3, c3); err != nil {
		t.Fatalf("head mode: %v", err)
	}
	wantRefused(t, all.VerifyCommit(ctx, u3, c3), u2, "not signed")
	wantRefused(t, head.VerifyCommit(ctx, u2, c3), u2, "not signed")
}

func TestVerifierAllModeMerges(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	r.git(signer{}, "checkout", "-q", "-b", "side")
	r.Write("side.txt", "x\n")
	side := r.commit(signer{}, "unsigned work on a side branch")
	r.git(signer{}, "checkout", "-q", "main")
	r.commit(alice.sign(), "main moves on")
	r.ticks++
	r.git(alice.sign(), "merge", "-q", "--no-ff", "-S", "-m", "merge side", "side")
	r.ForcePush()
	merge := r.Head()

	if err := NewVerifier(r.open, local, Options{}).VerifyCommit(context.Background(), merge, base); err != nil {
		t.Fatalf("head mode, signed merge: %v", err)
	}
	err := NewVerifier(r.open, local, Options{Mode: ModeAll}).VerifyCommit(context.Background(), merge, base)
	wantRefused(t, err, side, "not signed")
}

func TestVerifierAncestry(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	c1 := r.commit(alice.sign(), "one")
	c2 := r.commit(alice.sign(), "two")
	c3 := r.commit(alice.sign(), "three")
	// An unrelated history, signed by the same trusted key.
	r.git(signer{}, "checkout", "-q", "--orphan", "other")
	unrelated := r.commit(alice.sign(), "unrelated root")
	r.git(signer{}, "push", "-q", "origin", "other")
	r.git(signer{}, "checkout", "-q", "main")
	ctx := context.Background()

	v := NewVerifier(r.open, local, Options{})
	wantRefused(t, v.VerifyCommit(ctx, c2, c3), c2, "does not descend from the last applied revision "+c3)
	wantRefused(t, v.VerifyCommit(ctx, unrelated, c3), unrelated, "--allow-revision "+unrelated)
	if err := v.VerifyCommit(ctx, c3, c1); err != nil {
		t.Fatal(err)
	}
	// The operator allows the rollback on this node; the signature still counts.
	allow := NewVerifier(r.open, local, Options{Mode: ModeAll, AllowRevisions: []string{c2, unrelated}})
	if err := allow.VerifyCommit(ctx, c2, c3); err != nil {
		t.Fatalf("allowed rollback: %v", err)
	}
	if err := allow.VerifyCommit(ctx, unrelated, c3); err != nil {
		t.Fatalf("allowed unrelated: %v", err)
	}
	if err := NewVerifier(r.open, nil, Options{AllowRevisions: []string{c2}}).VerifyCommit(ctx, c2, c3); !errors.Is(err, ErrRefused) {
		t.Fatalf("allowed revision without a trusted signer: %v", err)
	}
	bad := NewVerifier(r.open, local, Options{AllowRevisions: []string{c2[:12]}})
	if err := bad.VerifyCommit(ctx, c2, c3); err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "full 40-digit") {
		t.Fatalf("abbreviated allowed revision: %v", err)
	}

	g, _ := r.open()
	for _, tt := range []struct {
		a, d string
		want bool
	}{{c1, c3, true}, {c3, c3, true}, {c3, c1, false}, {c1, unrelated, false}} {
		got, err := IsAncestor(g, plumbing.NewHash(tt.a), plumbing.NewHash(tt.d))
		if err != nil || got != tt.want {
			t.Errorf("IsAncestor(%.7s, %.7s) = %v, %v; want %v", tt.a, tt.d, got, err, tt.want)
		}
	}
}

func TestShallowHistory(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	c1 := r.commit(alice.sign(), "one")
	r.commit(alice.sign(), "two")
	c3 := r.commit(alice.sign(), "three")
	// A depth-1 bare fetch, as source/ does; c1 is present from an earlier fetch.
	dir := filepath.Join(t.TempDir(), "shallow.git")
	gittest.Git(t, "", "clone", "-q", "--bare", "--depth", "1", gittest.FileURL(r.BareDir), dir)
	gittest.Git(t, dir, "fetch", "-q", "--depth", "1", gittest.FileURL(r.BareDir), c1)
	open := func() (*git.Repository, error) { return git.PlainOpen(dir) }
	g, _ := open()

	_, err := IsAncestor(g, plumbing.NewHash(c1), plumbing.NewHash(c3))
	if !errors.Is(err, ErrHistoryMissing) {
		t.Fatalf("IsAncestor in a shallow repo: err = %v, want ErrHistoryMissing", err)
	}
	for _, mode := range []Mode{ModeHead, ModeAll} {
		err = NewVerifier(open, local, Options{Mode: mode}).VerifyCommit(context.Background(), c3, c1)
		if !errors.Is(err, ErrHistoryMissing) || errors.Is(err, ErrRefused) {
			t.Fatalf("mode %s: err = %v, want ErrHistoryMissing and not ErrRefused", mode, err)
		}
	}
	// Deepening the fetch settles it.
	gittest.Git(t, dir, "fetch", "-q", "--deepen", "2", gittest.FileURL(r.BareDir), "main")
	g, _ = open()
	if ok, err := IsAncestor(g, plumbing.NewHash(c1), plumbing.NewHash(c3)); !ok || err != nil {
		t.Fatalf("after deepening: %v, %v", ok, err)
	}
	if err := NewVerifier(open, local, Options{Mode: ModeAll}).VerifyCommit(context.Background(), c3, c1); err != nil {
		t.Fatalf("after deepening: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	root := newSSHKey(t, "ed25519")    // the node's own key (--trust-dir)
	bob := newSSHKey(t, "ed25519")     // a day-to-day signer added in trust/
	carol := newSSHKey(t, "ecdsa")     // added by bob alone
	mallory := newSSHKey(t, "ed25519") // never trusted
	ops := newGPGKey(t, "Ops")
	local := parseSet(t, map[string]string{"allowed_signers": "root " + root.line})
	ctx := context.Background()

	t.Run("signed by a trusted key", func(t *testing.T) {
		r := newRepo(t)
		base := r.commit(root.sign(), "base")
		r.Write("trust/allowed_signers", "bob "+bob.line+"\n")
		r.Write("trust/ops.asc", string(ops.armored))
		r.Write("trust/cosign.pub", "image key, not a commit key\n")
		rot := r.commit(root.sign(), "add bob and ops")
		r.Write("a.txt", "a\n")
		b1 := r.commit(bob.sign(), "bob's change")
		b2 := r.commit(ops.sign(), "ops' change")
		for _, mode := range []Mode{ModeHead, ModeAll} {
			v := NewVerifier(r.open, local, Options{Mode: mode})
			for _, last := range []string{base, rot, b1, ""} {
				if err := v.VerifyCommit(ctx, b2, last); err != nil {
					t.Fatalf("mode %s, %s..b2: %v", mode, last, err)
				}
			}
		}
		// A key added by bob alone (a repo key) is not honoured.
		r.Write("trust/allowed_signers", "bob "+bob.line+"\ncarol "+carol.line+"\n")
		byBob := r.commit(bob.sign(), "bob adds carol")
		c1 := r.commit(carol.sign(), "carol's change")
		v := NewVerifier(r.open, local, Options{})
		wantRefused(t, v.VerifyCommit(ctx, byBob, b2), byBob, "trust/ was changed by commit "+byBob)
		wantRefused(t, v.VerifyCommit(ctx, c1, b2), c1, "trust/ was changed by commit "+byBob)
		// The node's key endorses trust/ as it is by signing a later commit.
		c2 := r.commit(root.sign(), "root endorses carol")
		c3 := r.commit(carol.sign(), "carol again")
		if err := v.VerifyCommit(ctx, c3, c2); err != nil {
			t.Fatalf("after endorsement: %v", err)
		}
		if err := v.VerifyCommit(ctx, c3, b2); err != nil {
			t.Fatalf("after endorsement, from b2: %v", err)
		}
	})

	t.Run("signed by an untrusted key", func(t *testing.T) {
		r := newRepo(t)
		base := r.commit(root.sign(), "base")
		r.Write("trust/allowed_signers", "mallory "+mallory.line+"\n")
		rot := r.commit(mallory.sign(), "add mallory")
		m1 := r.commit(mallory.sign(), "mallory's change")
		for _, mode := range []Mode{ModeHead, ModeAll} {
			v := NewVerifier(r.open, local, Options{Mode: mode})
			wantRefused(t, v.VerifyCommit(ctx, rot, base), rot, "keys in trust/ are not honoured")
			want := m1
			if mode == ModeAll {
				want = rot
			}
			wantRefused(t, v.VerifyCommit(ctx, m1, base), want, "trust/ was changed by commit "+rot)
		}
	})

	t.Run("removed key re-added", func(t *testing.T) {
		r := newRepo(t)
		r.Write("trust/allowed_signers", "bob "+bob.line+"\n")
		r.commit(root.sign(), "add bob")
		r.Write("trust/allowed_signers", "# bob left\n")
		removed := r.commit(root.sign(), "remove bob")
		// bob's key leaked: restore the exact trust/ tree root once signed.
		r.Write("trust/allowed_signers", "bob "+bob.line+"\n")
		readd := r.commit(bob.sign(), "bob is back")
		v := NewVerifier(r.open, local, Options{})
		wantRefused(t, v.VerifyCommit(ctx, readd, removed), readd, "trust/ was changed by commit "+readd)
		wantRefused(t, v.VerifyCommit(ctx, readd, ""), readd, "trust/ was changed by commit "+readd)
	})

	t.Run("key files outside trust/", func(t *testing.T) {
		r := newRepo(t)
		r.Write("trust/allowed_signers", "bob "+bob.line+"\n")
		r.Write("evil/allowed_signers", "mallory "+mallory.line+"\n")
		base := r.commit(root.sign(), "add bob")
		m := r.commit(mallory.sign(), "mallory")
		v := NewVerifier(r.open, local, Options{RepoTrustPaths: func(context.Context, string) (TrustFiles, error) {
			return TrustFiles{AllowedSigners: []string{"trust/allowed_signers", "trust/../evil/allowed_signers"}}, nil
		}})
		wantRefused(t, v.VerifyCommit(ctx, m, base), m, "is not under trust/")
	})
}
