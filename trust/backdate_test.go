package trust

import (
	"context"
	"testing"
)

// TestBackdatedCommits: a key whose validity ended in 2020 (valid-before)
// signs commits dated 2019. Once the node has applied a revision from 2023,
// such a commit is refused: as the head (its committer time goes back) and
// in the middle of a revision in mode all (its key is judged at the last
// applied revision's time, when it had expired). git verify-commit, which
// judges the committer time alone, accepts the same commit.
func TestBackdatedCommits(t *testing.T) {
	old := newSSHKey(t, "ed25519")
	ops := newSSHKey(t, "ed25519")
	signers := `old valid-before="20200101Z" ` + old.line + "\nops " + ops.line + "\n"
	local := parseSet(t, map[string]string{"allowed_signers": signers})
	allowedFile := writeFile(t, "allowed_signers", signers)
	ctx := context.Background()

	r := newRepo(t)
	r.at = "2019-06-01T00:00:00Z"
	early := r.commit(old.sign(), "signed while the old key was valid")
	r.at = "2023-06-01T00:00:00Z"
	applied := r.commit(ops.sign(), "applied by the node")
	r.at = "2019-07-01T00:00:00Z"
	backdated := r.commit(old.sign(), "leaked old key, backdated")
	if out, ok := r.verifyCommitGit(backdated, allowedFile, ""); !ok {
		t.Fatalf("git verify-commit refuses the backdated commit (the fixture is not the attack): %s", out)
	}

	head := NewVerifier(r.open, local, Options{})
	all := NewVerifier(r.open, local, Options{Mode: ModeAll})
	for _, v := range []*Verifier{head, all} {
		wantRefused(t, v.VerifyCommit(ctx, backdated, applied), backdated, "is earlier than the last applied revision")
		// The honest history still verifies: the old key's commit from
		// 2019 as a first apply and as the revision already applied.
		if err := v.VerifyCommit(ctx, early, ""); err != nil {
			t.Errorf("mode %q, first apply of the 2019 commit: %v", v.opts.Mode, err)
		}
		if err := v.VerifyCommit(ctx, early, early); err != nil {
			t.Errorf("mode %q, the 2019 commit already applied: %v", v.opts.Mode, err)
		}
		if err := v.VerifyCommit(ctx, applied, early); err != nil {
			t.Errorf("mode %q, 2023 after 2019: %v", v.opts.Mode, err)
		}
	}

	// A current key signs a head dated now on top of the backdated commit:
	// the head's time is fine, but mode all judges the old key's commit at
	// the last applied revision's time (2023), when it had expired.
	r.at = "2024-01-01T00:00:00Z"
	cover := r.commit(ops.sign(), "current key on top")
	wantRefused(t, all.VerifyCommit(ctx, cover, applied), backdated, "expired at the last applied revision's committer time")
	if err := head.VerifyCommit(ctx, cover, applied); err != nil {
		t.Errorf("mode head verifies only the head, signed by a current key: %v", err)
	}

	// A backdated head cannot hide behind a dated key either: dated after
	// 2023 it is judged at its own time, and the key has expired.
	r.at = "2025-01-01T00:00:00Z"
	late := r.commit(old.sign(), "leaked old key, dated honestly")
	wantRefused(t, head.VerifyCommit(ctx, late, cover), late, "expired at committer time")

	// The operator may roll back on purpose to the backdated commit's
	// exact hash: the ancestry and time checks are waived, its signature
	// is judged at its own committer time as git does.
	allow := NewVerifier(r.open, local, Options{AllowRevisions: []string{early}})
	if err := allow.VerifyCommit(ctx, early, late); err != nil {
		t.Errorf("allowed rollback to the 2019 commit: %v", err)
	}
}
