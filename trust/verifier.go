package trust

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Mode says which commits of a new revision must be signed.
type Mode string

const (
	// ModeHead verifies the new head commit only (the default).
	ModeHead Mode = "head"
	// ModeAll verifies every commit between the last applied revision
	// (exclusive) and the new head, merged side branches included.
	ModeAll Mode = "all"
)

// Options configure a Verifier.
type Options struct {
	// Mode is ModeHead (default when empty) or ModeAll.
	Mode Mode
	// AllowRevisions are full commit hashes (fleetd --allow-revision) that
	// may be applied although they do not descend from the last applied
	// revision: a deliberate rollback. Their signature is still verified
	// (only theirs, in either mode).
	AllowRevisions []string
	// RepoTrustPaths lists the key files under trust/ at a revision, e.g.
	// from fleet.yaml's spec.trust.commits. Nil means every allowed_signers,
	// *.asc and *.gpg file directly in trust/. Paths outside trust/ are
	// refused: the rotation rule covers trust/ only.
	RepoTrustPaths func(ctx context.Context, rev string) (TrustFiles, error)
}

// Validate checks the mode and that every allowed revision is a full
// 40-digit hash (an abbreviation could be matched by a forged commit).
func (o Options) Validate() error {
	var errs []error
	switch o.Mode {
	case "", ModeHead, ModeAll:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want %q or %q", o.Mode, ModeHead, ModeAll))
	}
	for _, r := range o.AllowRevisions {
		if _, err := parseHash(r); err != nil {
			errs = append(errs, fmt.Errorf("allowed revision: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Verifier decides whether a revision of the fleet repo may be applied,
// over a repository that holds the history it needs (a Checker fetches
// more when it does not).
//
// Key rotation: a commit is first checked against the node's own keys. If
// that fails and the commit has a trust/ folder, the keys in it are added
// only if the commit's trust/ tree is honoured: every path back from the
// commit, through commits whose trust/ tree is the same, reaches a commit
// signed by one of the node's own keys, or the last applied revision,
// before it reaches the commit that changed trust/ (one with no parent or a
// parent whose trust/ tree differs). So the change of trust/ itself, and
// every later change, must be signed by a node key; a commit that changes
// trust/ under a repo key is refused, and so is re-adding a removed key.
type Verifier struct {
	repo  func() (*git.Repository, error)
	local *TrustSet
	opts  Options
}

// NewVerifier returns a Verifier over the repository repo opens (called on
// every verification), trusting local (the node's --trust-dir) and, under
// the rotation rule, keys from the repo's trust/ folder.
func NewVerifier(repo func() (*git.Repository, error), local *TrustSet, opts Options) *Verifier {
	return &Verifier{repo: repo, local: local, opts: opts}
}

// verifyState is what one VerifyCommit call learns as it goes.
type verifyState struct {
	w           *walker
	lastApplied plumbing.Hash
	// honoured holds commits whose trust/ tree passed the rotation rule.
	honoured map[plumbing.Hash]bool
	// floor is the last applied revision's committer time (zero when none
	// or for an allowed revision): every signature of this check is judged
	// at the later of its commit's committer time and floor.
	floor time.Time
}

// VerifyCommit decides whether rev (a full commit hash, already in the
// repository) may be applied after lastApplied ("" when nothing was applied
// yet). Refusals match ErrRefused. An error matching ErrHistoryMissing means
// the repository is too shallow to decide: deepen the fetch and retry.
//
// Ancestry: rev must equal or descend from lastApplied, unless rev is in
// Options.AllowRevisions. Signatures: ModeHead verifies rev; ModeAll
// verifies every commit in lastApplied..rev, or only rev when lastApplied is
// "" or rev is an allowed revision.
//
// Time: committer times only grow along what a node applies. rev's
// committer time must not be earlier than lastApplied's (unless rev is an
// allowed revision), and every signature (keys' valid-after/valid-before)
// is judged at the later of its commit's committer time and lastApplied's,
// so a commit backdated into a key's validity window cannot bring the
// expired key back once the node has applied anything newer.
func (v *Verifier) VerifyCommit(ctx context.Context, rev, lastApplied string) error {
	if err := v.opts.Validate(); err != nil {
		return fmt.Errorf("commit verifier: %w", err)
	}
	revHash, err := parseHash(rev)
	if err != nil {
		return fmt.Errorf("verify revision: %w", err)
	}
	var lastHash plumbing.Hash
	if lastApplied != "" {
		if lastHash, err = parseHash(lastApplied); err != nil {
			return fmt.Errorf("last applied revision: %w", err)
		}
	}
	repo, err := v.repo()
	if err != nil {
		return fmt.Errorf("open repository: %w", err)
	}
	w, err := newWalker(repo)
	if err != nil {
		return err
	}
	head, err := object.GetCommit(repo.Storer, revHash)
	if err != nil {
		return fmt.Errorf("commit %s: %w", rev, err)
	}
	st := &verifyState{w: w, lastApplied: lastHash, honoured: map[plumbing.Hash]bool{}}

	allowed := v.allowed(revHash)
	todo := []*object.Commit{head}
	if !lastHash.IsZero() && !allowed && lastHash != revHash {
		ok, err := isAncestor(ctx, repo, lastHash, revHash)
		if err != nil {
			return err
		}
		if !ok {
			return &Refusal{
				Commit: rev,
				Reason: fmt.Sprintf("does not descend from the last applied revision %s (a force-push to an older commit or an unrelated history); allow it on this node with --allow-revision %s", lastApplied, rev),
			}
		}
		last, err := w.commit(lastHash)
		if err != nil {
			return err
		}
		st.floor = last.Committer.When
		if head.Committer.When.Before(st.floor) {
			return &Refusal{
				Commit: rev,
				Reason: fmt.Sprintf("committer time %s is earlier than the last applied revision %s's (%s): committer times never go back along what a node applies (a backdated commit); allow it on this node with --allow-revision %s",
					head.Committer.When.UTC().Format(time.RFC3339), lastApplied, st.floor.UTC().Format(time.RFC3339), rev),
			}
		}
		if v.opts.Mode == ModeAll {
			if todo, err = between(ctx, w, lastHash, revHash); err != nil {
				return err
			}
		}
	}
	for _, c := range todo {
		if err := v.verifyOne(ctx, st, repo, c); err != nil {
			return err
		}
	}
	return nil
}

// verifyOne checks one commit's signature: against the node's keys, then,
// if trust/ at c is honoured, against the node's keys and trust/'s.
func (v *Verifier) verifyOne(ctx context.Context, st *verifyState, repo *git.Repository, c *object.Commit) error {
	_, localErr := v.local.verifyAt(c, st.floor)
	if localErr == nil {
		return nil
	}
	var refusal *Refusal
	if !errors.As(localErr, &refusal) {
		return localErr
	}
	if c.PGPSignature == "" && hasHeader(repo, c.Hash, "gpgsig-sha256") {
		refusal.Reason = "signed only with a gpgsig-sha256 header (SHA-256 object format), which gitfleet cannot verify"
		return refusal
	}
	ts, err := stateOf(c)
	if err != nil {
		return err
	}
	if ts.tree.IsZero() {
		return refusal
	}
	ok, changer, what, err := v.honoured(ctx, st, c, ts)
	if err != nil {
		return err
	}
	if !ok {
		refusal.Reason += fmt.Sprintf("; the keys in %s/ are not honoured: %s was changed by commit %s, which is not signed by a key of the node's own trust set (--trust-dir)", RepoTrustDir, what, changer.Hash)
		return refusal
	}
	repoKeys, err := v.repoTrust(ctx, c)
	if err != nil {
		return &Refusal{Commit: c.Hash.String(), Reason: fmt.Sprintf("keys in %s/", RepoTrustDir), Tried: v.local.Keys(), Err: err}
	}
	_, err = v.local.Extend(repoKeys).verifyAt(c, st.floor)
	return err
}

func (v *Verifier) allowed(h plumbing.Hash) bool {
	for _, r := range v.opts.AllowRevisions {
		if a, err := parseHash(r); err == nil && a == h {
			return true
		}
	}
	return false
}

// parseHash accepts a full 40-digit hex commit hash.
func parseHash(s string) (plumbing.Hash, error) {
	if len(s) != 40 {
		return plumbing.ZeroHash, fmt.Errorf("%q: want a full 40-digit commit hash", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%q: want a full 40-digit commit hash", s)
	}
	return plumbing.NewHash(strings.ToLower(s)), nil
}

// hasHeader reports whether the raw commit object h has a header line key.
func hasHeader(repo *git.Repository, h plumbing.Hash, key string) bool {
	o, err := repo.Storer.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return false
	}
	r, err := o.Reader()
	if err != nil {
		return false
	}
	defer r.Close()
	buf := make([]byte, 64*1024)
	n, _ := io.ReadFull(r, buf)
	head, _, _ := strings.Cut(string(buf[:n]), "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, key+" ") {
			return true
		}
	}
	return false
}
