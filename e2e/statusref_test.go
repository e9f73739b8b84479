package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// TestPreReceiveStatusHook installs packaging/pre-receive-status in a real
// bare repository and pushes as different pushers: a node may update its
// own status ref only; nobody else may touch a status ref.
func TestPreReceiveStatusHook(t *testing.T) {
	hook, err := os.ReadFile("../packaging/pre-receive-status")
	if err != nil {
		t.Fatal(err)
	}
	repo := gittest.NewRepo(t)
	repo.Write("fleet.yaml", "kind: Fleet\n")
	repo.Commit("fleet")
	if err := os.WriteFile(filepath.Join(repo.BareDir, "hooks", "pre-receive"), hook, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pusher, ref string
		ok          bool
	}{
		{"node-press-01", "refs/heads/status/press-01", true},
		{"node-press-01", "refs/heads/status/press-02", false},
		{"node-press-01", "refs/heads/status/press-01x", false},
		{"node-press-01", "refs/heads/main", false},
		{"node-press-01", "refs/tags/v1", false},
		{"ops", "refs/heads/status/press-01", false},
		{"ops", "refs/heads/main", true},
		{"", "refs/heads/status/press-01", false},
	}
	for i, c := range cases {
		t.Run(c.pusher+" "+c.ref, func(t *testing.T) {
			before := strings.TrimSpace(gittest.Git(t, repo.BareDir, "for-each-ref", "--format=%(objectname)", c.ref))
			gittest.Git(t, repo.Dir, "commit", "-q", "--allow-empty", "-m", "push "+string(rune('a'+i)))
			cmd := gittest.Command(repo.Dir, "push", "-q", "--force", "origin", "HEAD:"+c.ref)
			cmd.Env = append(cmd.Env, "GITFLEET_PUSHER="+c.pusher, "REMOTE_USER=")
			out, err := cmd.CombinedOutput()
			after := strings.TrimSpace(gittest.Git(t, repo.BareDir, "for-each-ref", "--format=%(objectname)", c.ref))
			moved := after != before
			if (err == nil) != c.ok || moved != c.ok {
				t.Errorf("push by %q to %s: err %v, ref moved %v; want allowed %v\n%s", c.pusher, c.ref, err, moved, c.ok, out)
			}
			if !c.ok && !strings.Contains(string(out), "may") {
				t.Errorf("refusal does not say why:\n%s", out)
			}
		})
	}
}
