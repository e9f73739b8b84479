package trust

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyCommitSSH(t *testing.T) {
	for _, typ := range []string{"ed25519", "ecdsa"} {
		t.Run(typ, func(t *testing.T) {
			key := newSSHKey(t, typ)
			signers := "alice@example.com " + key.line + "\n"
			ts := parseSet(t, map[string]string{"allowed_signers": signers})
			r := newRepo(t)
			r.Write("a.txt", "a\n")
			h := r.commit(key.sign(), "first")

			got, err := ts.VerifyCommit(r.commitObject(h))
			if err != nil {
				t.Fatalf("VerifyCommit: %v", err)
			}
			want := Signer{Kind: "ssh", Principal: "alice@example.com", Fingerprint: key.fp}
			if got != want {
				t.Fatalf("signer = %+v, want %+v", got, want)
			}
			// git agrees, and names the same key.
			out, ok := r.verifyCommitGit(h, writeFile(t, "allowed_signers", signers), "")
			if !ok || !strings.Contains(out, key.fp) || !strings.Contains(out, `signature for alice@example.com`) {
				t.Fatalf("git verify-commit: ok=%v\n%s", ok, out)
			}
		})
	}
}

func TestVerifyCommitOpenPGP(t *testing.T) {
	key := newGPGKey(t, "Ops")
	r := newRepo(t)
	r.Write("a.txt", "a\n")
	h := r.commit(key.sign(), "first")
	out, ok := r.verifyCommitGit(h, "", key.home)
	if !ok || !strings.Contains(out, "VALIDSIG "+key.fpr) {
		t.Fatalf("git verify-commit: ok=%v\n%s", ok, out)
	}
	for name, data := range map[string][]byte{"ops.asc": key.armored, "ops.gpg": key.binary} {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse(map[string][]byte{name: data})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ts.VerifyCommit(r.commitObject(h))
			if err != nil {
				t.Fatalf("VerifyCommit: %v", err)
			}
			want := Signer{Kind: "openpgp", Principal: "Ops <ops@example.com>", Fingerprint: key.fpr}
			if got != want {
				t.Fatalf("signer = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyCommitRefused(t *testing.T) {
	alice, mallory := newSSHKey(t, "ed25519"), newSSHKey(t, "ed25519")
	ops, eve := newGPGKey(t, "Ops"), newGPGKey(t, "Eve")
	r := newRepo(t)
	// Committer times are 2023-11-14 (gittest's deterministic dates).
	commits := map[string]string{
		"unsigned": r.commit(signer{}, "unsigned"),
		"mallory":  r.commit(mallory.sign(), "by mallory"),
		"alice":    r.commit(alice.sign(), "by alice"),
		"eve":      r.commit(eve.sign(), "by eve"),
		"ops":      r.commit(ops.sign(), "by ops"),
	}
	commits["alice tampered"] = r.writeObject(strings.Replace(
		r.git(signer{}, "cat-file", "commit", commits["alice"]), "by alice", "by alice, and more", 1))
	commits["ops tampered"] = r.writeObject(strings.Replace(
		r.git(signer{}, "cat-file", "commit", commits["ops"]), "by ops", "by ops, and more", 1))

	tests := []struct {
		name, commit, signers string
		want                  string // in the error
	}{
		{"unsigned", "unsigned", "alice " + alice.line, "not signed"},
		{"wrong ssh signer", "mallory", "alice " + alice.line, "signed with ssh-ed25519 key " + mallory.fp + ", which is not trusted"},
		{"wrong openpgp signer", "eve", "alice " + alice.line, "which is not trusted"},
		{"namespaces excludes git", "alice", `alice namespaces="file,email" ` + alice.line, `namespaces="file,email" excludes "git"`},
		{"namespaces negated", "alice", `alice namespaces="*,!git" ` + alice.line, `excludes "git"`},
		{"expired", "alice", `alice valid-before="20200101" ` + alice.line, "expired at committer time 2023-11-14"},
		{"not yet valid", "alice", `alice valid-after="20250101Z" ` + alice.line, "not yet valid"},
		{"ssh tampered", "alice tampered", "alice " + alice.line, "does not match the commit's content"},
		{"openpgp tampered", "ops tampered", "alice " + alice.line, "does not match the commit's content"},
		{"empty trust set", "alice", "", "the trust set is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{"allowed_signers": []byte(tt.signers + "\n"), "ops.asc": ops.armored}
			if tt.signers == "" {
				files = nil
			}
			ts, err := Parse(files)
			if err != nil {
				t.Fatal(err)
			}
			h := commits[tt.commit]
			_, err = ts.VerifyCommit(r.commitObject(h))
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want ErrRefused", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, h) {
				t.Fatalf("err = %q\nwant it to name %s and say %q", msg, h, tt.want)
			}
			if tt.signers != "" && !strings.Contains(err.Error(), "keys tried: ssh "+alice.fp) {
				t.Fatalf("err = %q, want the keys tried", err)
			}
		})
	}
	// The positive controls: the untampered commits verify.
	ts := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line, "ops.asc": string(ops.armored)})
	for _, c := range []string{"alice", "ops"} {
		if _, err := ts.VerifyCommit(r.commitObject(commits[c])); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	// git refuses the expired key too.
	expired := writeFile(t, "allowed_signers", `alice valid-before="20200101" `+alice.line+"\n")
	if out, ok := r.verifyCommitGit(commits["alice"], expired, ""); ok {
		t.Errorf("git verify-commit accepted an expired key:\n%s", out)
	}
}

func TestLoadDir(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	ops := newGPGKey(t, "Ops")
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"allowed_signers": []byte("# node keys\n\nalice@example.com,bob@example.com " + alice.line + "\n"),
		"ops.asc":         ops.armored,
		"cosign.pub":      []byte("-----BEGIN PUBLIC KEY-----\nnot a commit key\n"),
		"README":          []byte("ignored"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := ts.Keys()
	want := []string{
		"ssh " + alice.fp + " (alice@example.com,bob@example.com)",
		"openpgp " + ops.fpr + " (Ops <ops@example.com>)",
	}
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadDir of a missing directory succeeded")
	}
}

func TestParseErrors(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr8SJHJyXnDkvqDvrgNLu1ooJ7uB1bEwzn3QN0Ds4Ym"
	tests := []struct{ content, want string }{
		{"alice " + key + "\nbob cert-authority " + key, "trust/allowed_signers:2: option cert-authority is not supported"},
		{"alice frobnicate " + key, `trust/allowed_signers:1: unsupported option "frobnicate"`},
		{`alice frob="x" ` + key, `trust/allowed_signers:1: unsupported option "frob=\"x\""`},
		{"alice", "trust/allowed_signers:1: want: principals"},
		{"alice ssh-ed25519 AAAAnotbase64!!", "trust/allowed_signers:1: bad key"},
		{`alice valid-before="2020" ` + key, "trust/allowed_signers:1: option valid-before: time \"2020\""},
		{`alice valid-after="20250101",valid-before="20240101" ` + key, "valid-after is not before valid-before"},
		{`"alice ` + key, "missing closing quote"},
	}
	for _, tt := range tests {
		_, err := Parse(map[string][]byte{"trust/allowed_signers": []byte(tt.content)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.content, err, tt.want)
		}
	}
	_, err := Parse(map[string][]byte{"trust/ops.asc": []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbad\n-----END PGP PUBLIC KEY BLOCK-----\n")})
	if err == nil || !strings.HasPrefix(err.Error(), "trust/ops.asc: ") {
		t.Errorf("Parse(bad asc) = %v, want an error naming trust/ops.asc", err)
	}
	// All errors of a file come together.
	_, err = Parse(map[string][]byte{"allowed_signers": []byte("a\nb\n")})
	if err == nil || !strings.Contains(err.Error(), "allowed_signers:1:") || !strings.Contains(err.Error(), "allowed_signers:2:") {
		t.Errorf("Parse = %v, want errors for lines 1 and 2", err)
	}
}

func TestParseOptions(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr8SJHJyXnDkvqDvrgNLu1ooJ7uB1bEwzn3QN0Ds4Ym"
	ts := parseSet(t, map[string]string{"allowed_signers": `"Alice Ops" namespaces="git,file",valid-after="202301021504Z",valid-before=20300101000000Z ` + key + " a comment\n"})
	s := ts.ssh[0]
	if s.principals != "Alice Ops" || strings.Join(s.namespaces, "|") != "git|file" ||
		s.validAfter.Format("2006-01-02T15:04") != "2023-01-02T15:04" || s.validBefore.Year() != 2030 {
		t.Fatalf("parsed %+v", s)
	}
	for _, tt := range []struct {
		patterns []string
		want     bool
	}{
		{[]string{"git"}, true},
		{[]string{"file"}, false},
		{[]string{"g*"}, true},
		{[]string{"g?t"}, true},
		{[]string{"*", "!git"}, false},
		{[]string{"!file"}, false},
	} {
		if got := matchPatternList("git", tt.patterns); got != tt.want {
			t.Errorf("matchPatternList(git, %q) = %v, want %v", tt.patterns, got, tt.want)
		}
	}
}

func FuzzParseAllowedSigners(f *testing.F) {
	f.Add([]byte("alice ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr8SJHJyXnDkvqDvrgNLu1ooJ7uB1bEwzn3QN0Ds4Ym\n"))
	f.Add([]byte(`"a b" namespaces="git",valid-before="20300101Z" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr8SJHJyXnDkvqDvrgNLu1ooJ7uB1bEwzn3QN0Ds4Ym c`))
	f.Fuzz(func(t *testing.T, data []byte) {
		signers, err := parseAllowedSigners("allowed_signers", data)
		if err != nil {
			return
		}
		for _, s := range signers {
			if s.key == nil || s.principals == "" {
				t.Fatalf("parsed %+v without error", s)
			}
			s.allows("git", s.validAfter, "committer time")
		}
	})
}
