package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

// printStatusKey is what an operator runs before a node's first start:
// fleetd --print-status-key with the node's state dir (it makes the key).
func printStatusKey(t *testing.T, stateDir, node string) string {
	t.Helper()
	out, err := exec.Command(fleetdBin, "--print-status-key", "--state-dir", stateDir, "--node", node).Output()
	if err != nil {
		t.Fatalf("fleetd --print-status-key: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// forgeStatus writes st as status/<node>.yaml on refs/heads/status/<node>
// of the bare repository, on top of what the ref holds, with git itself:
// signed with the SSH private key file key (gpg.format=ssh, as git commit
// -S), unsigned when key is "". It is what anyone who may push to the
// status repository can do to any node's ref.
func forgeStatus(t *testing.T, bare, node string, st *status.NodeStatus, key string) {
	t.Helper()
	body, err := status.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	git := func(stdin string, args ...string) string {
		t.Helper()
		cmd := gittest.Command(bare, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	blob := git(string(body), "hash-object", "-w", "--stdin")
	sub := git("100644 blob "+blob+"\t"+node+".yaml\n", "mktree")
	root := git("040000 tree "+sub+"\tstatus\n", "mktree")
	args := []string{"commit-tree", root, "-m", node + ": applied, healthy"}
	if parent := git("", "for-each-ref", "--format=%(objectname)", "refs/heads/status/"+node); parent != "" {
		args = append(args, "-p", parent)
	}
	if key != "" {
		args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key}, append(args, "-S")...)
	}
	commit := git("", args...)
	git("", "update-ref", "refs/heads/status/"+node, commit)
}

// healthyReport is a report of node healthy on rev for an hour.
func healthyReport(node, rev string) *status.NodeStatus {
	now := time.Now().UTC()
	return &status.NodeStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Meta{Name: node},
		Status: status.Status{ObservedRevision: rev, AppliedRevision: rev, LastSeen: now,
			Conditions: []status.Condition{{Type: status.ConditionReady, Status: status.ConditionTrue, Reason: status.ReasonApplied,
				Message: "1/1 workloads running", LastTransitionTime: now.Add(-time.Hour)}},
			Workloads: []status.Workload{{Name: "defect", State: status.StateRunning, Health: "healthy"}}}}
}

// statusNode is one node of fleetctl status -o json.
type statusNode struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	Untrusted string `json:"untrusted"`
	SignedBy  string `json:"signedBy"`
}

// fleetStatus runs fleetctl status and returns its nodes by name (JSON)
// and its text output.
func fleetStatus(t *testing.T, repoURL, statusURL string) (map[string]statusNode, string) {
	t.Helper()
	run := func(format string) []byte {
		t.Helper()
		out, err := exec.Command(fleetctlBin, "status", "--repo", repoURL, "--status-repo", statusURL, "-o", format).Output()
		if err != nil {
			t.Fatalf("fleetctl status -o %s: %v\n%s", format, err, out)
		}
		return out
	}
	var fleet struct {
		Nodes []statusNode `json:"nodes"`
	}
	if err := json.Unmarshal(run("json"), &fleet); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]statusNode{}
	for _, n := range fleet.Nodes {
		nodes[n.Name] = n
	}
	return nodes, string(run("text"))
}
