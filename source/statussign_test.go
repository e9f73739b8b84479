package source_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// checkReport is what fleetd wires in as StatusConfig.CheckReport.
func checkReport(statusKey string, r source.Report) status.Trust {
	fp, err := trust.VerifyReport(statusKey, r.Signature, r.Signed)
	if err != nil {
		return status.Trust{Reason: err.Error()}
	}
	return status.Trust{Trusted: true, Reason: fp}
}

func statusKey(t *testing.T, node string) *trust.StatusKey {
	t.Helper()
	k, created, err := trust.LoadOrCreateStatusKey(filepath.Join(t.TempDir(), "status.key"), "fleetd@"+node)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateStatusKey = %v, created %t", err, created)
	}
	return k
}

// TestStatusCommitsSigned: every status commit carries an SSH signature
// that plain git verify-commit accepts with the node's key as the one
// allowed signer, and that a reader checking against the enrolled key
// trusts; unsigned reports, reports signed by another key and nodes
// without an enrolled key are untrusted.
func TestStatusCommitsSigned(t *testing.T) {
	r, remotes := statusRemotes(t)
	for name, cfg := range remotes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			a, b, c, raw := "sa-"+name, "sb-"+name, "sc-"+name, "raw-"+name
			keyA, keyB := statusKey(t, a), statusKey(t, b)
			signed := func(node string, k *trust.StatusKey) *source.StatusWriter {
				cfg := cfg
				cfg.Signer = k
				return newWriter(t, cfg, node, clk)
			}
			wa := signed(a, keyA)
			for _, rev := range []string{strings.Repeat("1a", 20), strings.Repeat("2b", 20)} {
				if err := wa.Report(ctx, report(a, rev, status.StateRunning, clk.Now())); err != nil {
					t.Fatal(err)
				}
				clk.Add(time.Minute)
			}
			// b signs with its own key, c with b's; raw is not signed.
			if err := signed(b, keyB).Report(ctx, report(b, strings.Repeat("1a", 20), status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if err := signed(c, keyB).Report(ctx, report(c, strings.Repeat("1a", 20), status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			pushRaw(t, r, raw, marshal(t, report(raw, strings.Repeat("1a", 20), status.StateRunning, clk.Now())))

			// git verify-commit, as an operator would run it, on both
			// commits of a's ref.
			signers := filepath.Join(t.TempDir(), "allowed_signers")
			if err := os.WriteFile(signers, []byte("fleetd@"+a+" "+keyA.AuthorizedKey("")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, rev := range []string{"status/" + a, "status/" + a + "~1"} {
				out, err := gittest.Command(r.BareDir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", "-v", rev).CombinedOutput()
				if err != nil || !strings.Contains(string(out), `Good "git" signature for fleetd@`+a) || !strings.Contains(string(out), keyA.Fingerprint()) {
					t.Errorf("git verify-commit %s = %v:\n%s", rev, err, out)
				}
			}
			// The same check refuses b's key in a's place.
			if out, err := gittest.Command(r.BareDir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", "status/"+b).CombinedOutput(); err == nil {
				t.Errorf("git verify-commit accepted b's commit with a's key:\n%s", out)
			}

			rcfg := cfg
			rcfg.Node, rcfg.Dir, rcfg.Now, rcfg.CheckReport = "reader-"+name, t.TempDir(), clk.Now, checkReport
			reader, err := source.NewStatusWriter(rcfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]string{a: keyA.AuthorizedKey("fleetd@" + a), b: keyB.AuthorizedKey(""), c: keyA.AuthorizedKey(""), raw: keyA.AuthorizedKey("")}
			got, err := reader.Reports(ctx, []string{a, b, c, raw}, keys)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{a: "", b: "", c: "signed by ssh-ed25519 key " + keyB.Fingerprint() + ", not the enrolled", raw: "commit not signed"}
			for n, reason := range want {
				switch tr := got[n].Trust; {
				case got[n] == nil:
					t.Errorf("no report of %s", n)
				case reason == "" && !tr.Trusted:
					t.Errorf("report of %s untrusted (%s), want trusted", n, tr.Reason)
				case reason != "" && (tr.Trusted || !strings.Contains(tr.Reason, reason)):
					t.Errorf("report of %s: trust %+v, want untrusted with %q", n, tr, reason)
				}
			}
			// Without an enrolled key nothing is trusted, signed or not.
			got, err = reader.Reports(ctx, []string{a, b}, map[string]string{b: keyB.AuthorizedKey("")})
			if err != nil {
				t.Fatal(err)
			}
			if tr := got[a].Trust; tr.Trusted || !strings.Contains(tr.Reason, "no statusKey enrolled") {
				t.Errorf("report of %s with no key enrolled: trust %+v, want untrusted", a, tr)
			}
			if !got[b].Trust.Trusted {
				t.Errorf("report of %s: %+v, want trusted", b, got[b].Trust)
			}
		})
	}
}
