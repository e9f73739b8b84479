package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
	"golang.org/x/crypto/ssh"
)

// statusNow is the clock of the status tests (--now); report ages count
// from it.
var statusNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const statusDigest = "@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"

// statusFleet is a fleet repo with two commits on main (revs, oldest
// first); its status refs are pushed by pushReports.
type statusFleet struct {
	repo *gittest.Repo
	revs []string
	keys string // the nodes' status keys (OpenSSH private key files)
}

// statusKey writes node's status key into dir, made from the node's name
// (the same on every run, like its signatures), and returns its file and
// its public line for spec.statusKey.
func statusKey(t *testing.T, dir, node string) (file, line string) {
	t.Helper()
	seed := sha256.Sum256([]byte("status key of " + node))
	priv := ed25519.NewKeyFromSeed(seed[:])
	block, err := ssh.MarshalPrivateKey(priv, "fleetd@"+node)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, node+".key")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return file, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " fleetd@" + node
}

// statusNode is one node of the fixture: its nodes/ file and, unless st is
// nil, the report on its status ref, made age before statusNow.
type statusNode struct {
	name, site, line string
	age              time.Duration
	st               func(head, prev string) *status.NodeStatus
}

func newStatusFleet(t *testing.T, nodes []statusNode) *statusFleet {
	t.Helper()
	r := gittest.NewRepo(t)
	r.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant}\nspec:\n  status: {heartbeat: 1h}\n")
	r.Write("workloads/detector.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: 127.0.0.1:5000/models/detector"+statusDigest+"\n  args: [\"--threshold\", \"0.5\"]\n")
	r.Write("groups/line-a.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [detector]\n")
	keys := t.TempDir()
	for _, n := range nodes {
		_, key := statusKey(t, keys, n.name)
		r.Write("nodes/"+n.name+".yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n  labels: {site: %s, line: %s}\nspec:\n  statusKey: %s\n", n.name, n.site, n.line, key))
	}
	f := &statusFleet{repo: r, keys: keys}
	f.revs = append(f.revs, r.Commit("fleet: plant"))
	r.Write("workloads/detector.yaml", strings.Replace(readFile(t, filepath.Join(r.Dir, "workloads/detector.yaml")), "0.5", "0.6", 1))
	f.revs = append(f.revs, r.Commit("detector: threshold 0.6"))
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pushReports commits each node's report as status/<node>.yaml on its own
// root commit in the work tree's repository, signed with the node's status
// key by git itself (gpg.format=ssh), and pushes them all to
// refs/heads/status/<node> of bareDir in one push, as fleetd would.
// lastSeen and the commit date are statusNow minus the node's age.
func (f *statusFleet) pushReports(t *testing.T, bareDir string, nodes []statusNode) {
	t.Helper()
	dir := f.repo.Dir
	head, prev := f.revs[len(f.revs)-1], f.revs[len(f.revs)-2]
	push := []string{"push", "-q", "--force", bareDir}
	for _, n := range nodes {
		if n.st == nil {
			continue
		}
		when := statusNow.Add(-n.age)
		st := n.st(head, prev)
		st.Status.LastSeen = when
		body, err := status.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		blob := gitIn(t, dir, string(body), nil, "hash-object", "-w", "--stdin")
		sub := gitIn(t, dir, fmt.Sprintf("100644 blob %s\t%s.yaml\n", blob, n.name), nil, "mktree")
		root := gitIn(t, dir, fmt.Sprintf("040000 tree %s\tstatus\n", sub), nil, "mktree")
		date := fmt.Sprintf("@%d +0000", when.Unix())
		key, _ := statusKey(t, f.keys, n.name)
		c := gitIn(t, dir, "", []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date},
			"-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "commit-tree", "-S", root, "-m", "status: report of "+n.name)
		push = append(push, c+":refs/heads/status/"+n.name)
	}
	gittest.Git(t, dir, push...)
}

// gitIn runs git in dir with stdin and extra environment and returns its
// trimmed output.
func gitIn(t *testing.T, dir, stdin string, env []string, args ...string) string {
	t.Helper()
	cmd := gittest.Command(dir, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func nodeReport(node, observed, applied string, ready status.Condition, ws ...status.Workload) *status.NodeStatus {
	return &status.NodeStatus{
		APIVersion: status.APIVersion,
		Kind:       status.Kind,
		Metadata:   status.Meta{Name: node},
		Status: status.Status{
			ObservedRevision: observed,
			AppliedRevision:  applied,
			Conditions:       []status.Condition{ready},
			Workloads:        ws,
		},
	}
}

var (
	readyTrue = status.Condition{Type: "Ready", Status: "True", Reason: "Applied", Message: "1/1 workloads running"}
	detector  = status.Workload{Name: "detector", Image: "127.0.0.1:5000/models/detector" + statusDigest, State: status.StateRunning, Health: "healthy"}
)

// healthyNodes are up to date or updating: nothing unhealthy.
var healthyNodes = []statusNode{
	{"press-01", "plant-1", "a", 5 * time.Minute, func(head, prev string) *status.NodeStatus {
		return nodeReport("press-01", head, head, readyTrue, detector)
	}},
	{"press-02", "plant-1", "a", time.Minute, func(head, prev string) *status.NodeStatus {
		return nodeReport("press-02", head, prev, readyTrue, detector)
	}},
}

// statusNodes has a node in every state.
var statusNodes = append(slicesClone(healthyNodes),
	statusNode{"oven-01", "plant-2", "a", 2 * time.Minute, func(head, prev string) *status.NodeStatus {
		s := nodeReport("oven-01", head, prev, status.Condition{Type: "Ready", Status: "False", Reason: "Refused",
			Message: "revision " + head[:7] + " refused; 1/1 workloads running"}, detector)
		s.Status.Errors = []status.Error{{File: "workloads/detector.yaml", Line: 5, Field: "spec.image", Ref: head,
			Reason: "image 127.0.0.1:5000/models/detector: signature not trusted"}}
		return s
	}},
	statusNode{"press-03", "plant-2", "a", 3*time.Hour + 20*time.Minute, func(head, prev string) *status.NodeStatus {
		return nodeReport("press-03", head, head, readyTrue, detector)
	}},
	statusNode{"press-04", "plant-2", "a", 0, nil}, // never reported
)

func slicesClone(s []statusNode) []statusNode { return append([]statusNode(nil), s...) }

// wantStates is the state of each node of statusNodes.
var wantStates = map[string]string{
	"press-01": "up-to-date",
	"press-02": "updating",
	"oven-01":  "failing",
	"press-03": "stale",
	"press-04": "offline",
}

// newStatusFixture is the fleet with every state, its status refs in the
// fleet repo.
func newStatusFixture(t *testing.T) *statusFleet {
	t.Helper()
	f := newStatusFleet(t, statusNodes)
	f.pushReports(t, f.repo.BareDir, statusNodes)
	return f
}

var nowFlag = "--now=" + statusNow.Format(time.RFC3339)

// statusJSON is the part of the JSON output the tests check.
type statusJSON struct {
	Repo       string         `json:"repo"`
	StatusRepo string         `json:"statusRepo"`
	Head       string         `json:"head"`
	GroupBy    string         `json:"groupBy"`
	Counts     map[string]int `json:"counts"`
	Warnings   []string       `json:"warnings"`
	Nodes      []struct {
		Name     string          `json:"name"`
		Site     string          `json:"site"`
		State    string          `json:"state"`
		Behind   *map[string]any `json:"behind"`
		Errors   []string        `json:"errors"`
		LastSeen *time.Time      `json:"lastSeen"`
	} `json:"nodes"`
}

func parseStatusJSON(t *testing.T, out string) statusJSON {
	t.Helper()
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, out)
	}
	return s
}

func checkStates(t *testing.T, s statusJSON) {
	t.Helper()
	got := map[string]string{}
	for _, n := range s.Nodes {
		got[n.Name] = n.State
	}
	if fmt.Sprint(got) != fmt.Sprint(wantStates) {
		t.Errorf("states %v, want %v", got, wantStates)
	}
}
