package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
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
	for _, n := range nodes {
		r.Write("nodes/"+n.name+".yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n  labels: {site: %s, line: %s}\n", n.name, n.site, n.line))
	}
	f := &statusFleet{repo: r}
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
// root commit in the work tree's repository and pushes them all to
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
		c := gitIn(t, dir, "", []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date},
			"commit-tree", root, "-m", "status: report of "+n.name)
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

// TestStatusFile reads the fleet over file:// (and from a local
// directory) in every output format.
func TestStatusFile(t *testing.T) {
	f := newStatusFixture(t)
	url := gittest.FileURL(f.repo.BareDir)
	norm := strings.NewReplacer(url, "FLEET-REPO")

	res := fleetctl(t, "status", "--repo", url, nowFlag)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("status: exit %d, stderr %q", res.code, res.stderr)
	}
	golden(t, "status/text.golden", norm.Replace(res.stdout))

	res = fleetctl(t, "status", "--repo", url, nowFlag, "-o", "json")
	if res.code != 0 {
		t.Fatalf("status -o json: exit %d, stderr %q", res.code, res.stderr)
	}
	golden(t, "status/json.golden", norm.Replace(res.stdout))
	s := parseStatusJSON(t, res.stdout)
	checkStates(t, s)
	if s.Repo != url || s.Head != f.revs[1] || s.GroupBy != "site" {
		t.Errorf("repo %s head %s groupBy %s; want %s %s site", s.Repo, s.Head, s.GroupBy, url, f.revs[1])
	}
	for _, n := range s.Nodes {
		switch n.Name {
		case "press-02":
			if n.Behind == nil || (*n.Behind)["commits"] != 1.0 {
				t.Errorf("press-02 behind %v, want 1 commit", n.Behind)
			}
		case "oven-01":
			if len(n.Errors) != 1 || !strings.Contains(n.Errors[0], "workloads/detector.yaml:5: spec.image") {
				t.Errorf("oven-01 errors %q", n.Errors)
			}
		case "press-01":
			if n.LastSeen == nil || !n.LastSeen.Equal(statusNow.Add(-5*time.Minute)) {
				t.Errorf("press-01 last seen %v, want 5m before %v", n.LastSeen, statusNow)
			}
		}
	}

	res = fleetctl(t, "status", "--repo", url, nowFlag, "--output", "markdown")
	if res.code != 0 {
		t.Fatalf("status -o markdown: exit %d, stderr %q", res.code, res.stderr)
	}
	for _, want := range []string{"| oven-01 |", "| press-04 |", "<details>"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("markdown output lacks %q:\n%s", want, res.stdout)
		}
	}

	// The work tree's directory works as --repo too.
	res = fleetctl(t, "status", "--repo", f.repo.Dir, nowFlag, "-o", "json")
	if res.code != 0 {
		t.Fatalf("status --repo DIR: exit %d, stderr %q", res.code, res.stderr)
	}
	// The work tree has no status refs: every node is offline.
	if s := parseStatusJSON(t, res.stdout); s.Counts["offline"] != len(statusNodes) || s.Head != f.revs[1] {
		t.Errorf("--repo DIR: counts %v head %s; want all %d offline at %s", s.Counts, s.Head, len(statusNodes), f.revs[1])
	}
}

// TestStatusHTTPBasicAuth reads the fleet from git http-backend behind
// basic auth, the password in a file; it writes the HTML page too.
func TestStatusHTTPBasicAuth(t *testing.T) {
	const password = "s3cret-token-4711"
	f := newStatusFixture(t)
	base := gittest.ServeHTTP(t, f.repo.BareParent, "fleet", password)
	url := base + "/" + f.repo.Name
	pwFile := filepath.Join(t.TempDir(), "git-token")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "fleet.html")

	res := fleetctl(t, "status", "--repo", url, nowFlag, "--git-username", "fleet", "--git-password-file", pwFile, "--html", page)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("status over http: exit %d, stderr %q", res.code, res.stderr)
	}
	// The same table as over file://.
	want := readFile(t, filepath.Join(testdata, "status/text.golden"))
	if got := strings.ReplaceAll(res.stdout, url, "FLEET-REPO"); got != want {
		t.Errorf("text over http:\n%s\nwant:\n%s", got, want)
	}
	html := readFile(t, page)
	if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(html)), "<!doctype html>") {
		t.Errorf("%s is not an HTML page:\n%.200s", page, html)
	}
	for name := range wantStates {
		if !strings.Contains(html, name) {
			t.Errorf("HTML page lacks node %s", name)
		}
	}
	for _, out := range []string{res.stdout, res.stderr, html} {
		if strings.Contains(out, password) {
			t.Errorf("output contains the password:\n%s", out)
		}
	}

	// JSON, with the credentials in the URL instead: printed without them.
	withCreds := strings.Replace(url, "http://", "http://fleet:"+password+"@", 1)
	res = fleetctl(t, "status", "--repo", withCreds, nowFlag, "-o", "json")
	if res.code != 0 {
		t.Fatalf("status with credentials in the URL: exit %d, stderr %q", res.code, res.stderr)
	}
	if strings.Contains(res.stdout, password) {
		t.Errorf("JSON output contains the password:\n%s", res.stdout)
	}
	s := parseStatusJSON(t, res.stdout)
	checkStates(t, s)
	if s.Repo != url {
		t.Errorf("repo %q, want %q", s.Repo, url)
	}

	// A wrong password: exit 1, and the password is not in the error.
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-"+password), 0o600); err != nil {
		t.Fatal(err)
	}
	res = fleetctl(t, "status", "--repo", url, "--git-username", "fleet", "--git-password-file", wrong)
	if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "fleetctl:") {
		t.Errorf("wrong password: exit %d, stdout %q, stderr %q; want 1 and an error", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stderr, password) {
		t.Errorf("error contains the password: %s", res.stderr)
	}
	t.Logf("wrong password: %s", res.stderr)
}

// TestStatusRepoSeparate keeps the status refs in a repository of their own.
func TestStatusRepoSeparate(t *testing.T) {
	f := newStatusFleet(t, statusNodes)
	statusDir := filepath.Join(f.repo.BareParent, "status.git")
	gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", statusDir)
	f.pushReports(t, statusDir, statusNodes)
	res := fleetctl(t, "status", "--repo", gittest.FileURL(f.repo.BareDir), "--status-repo", gittest.FileURL(statusDir),
		nowFlag, "-o", "json", "--group-by", "line")
	if res.code != 0 {
		t.Fatalf("status --status-repo: exit %d, stderr %q", res.code, res.stderr)
	}
	s := parseStatusJSON(t, res.stdout)
	checkStates(t, s)
	if s.StatusRepo != gittest.FileURL(statusDir) || s.GroupBy != "line" {
		t.Errorf("statusRepo %q groupBy %q", s.StatusRepo, s.GroupBy)
	}
	for _, n := range s.Nodes {
		if n.Site != "a" {
			t.Errorf("%s: site %q with --group-by line, want a", n.Name, n.Site)
		}
	}
}

// TestStatusFailOnUnhealthy: exit 1 only with --fail-on-unhealthy and a
// failing, stale or offline node; the output is written either way.
func TestStatusFailOnUnhealthy(t *testing.T) {
	f := newStatusFixture(t)
	url := gittest.FileURL(f.repo.BareDir)
	page := filepath.Join(t.TempDir(), "fleet.html")

	res := fleetctl(t, "status", "--repo", url, nowFlag, "--fail-on-unhealthy", "--html", page)
	if res.code != 1 {
		t.Errorf("--fail-on-unhealthy with unhealthy nodes: exit %d, want 1", res.code)
	}
	if want := "fleetctl: 3 of 5 nodes unhealthy: 1 failing, 1 stale, 1 offline\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	if !strings.Contains(res.stdout, "press-04") {
		t.Errorf("no table before the failure:\n%s", res.stdout)
	}
	if _, err := os.Stat(page); err != nil {
		t.Errorf("--html with --fail-on-unhealthy: %v", err)
	}

	// Without the flag the same fleet exits 0.
	if res := fleetctl(t, "status", "--repo", url, nowFlag); res.code != 0 {
		t.Errorf("without --fail-on-unhealthy: exit %d, want 0", res.code)
	}
	// Thresholds move press-03 from stale to offline.
	res = fleetctl(t, "status", "--repo", url, nowFlag, "-o", "json", "--heartbeat", "30m", "--offline-after", "3h")
	if s := parseStatusJSON(t, res.stdout); s.Counts["offline"] != 2 || s.Counts["stale"] != 0 {
		t.Errorf("--heartbeat 30m --offline-after 3h: counts %v, want 2 offline, 0 stale", s.Counts)
	}

	// A fleet of up-to-date and updating nodes passes.
	healthy := newStatusFleet(t, healthyNodes)
	healthy.pushReports(t, healthy.repo.BareDir, healthyNodes)
	res = fleetctl(t, "status", "--repo", gittest.FileURL(healthy.repo.BareDir), nowFlag, "--fail-on-unhealthy")
	if res.code != 0 || res.stderr != "" {
		t.Errorf("--fail-on-unhealthy with healthy nodes: exit %d, stderr %q", res.code, res.stderr)
	}
	// Later, with no report for 2 heartbeats, they are stale.
	later := "--now=" + statusNow.Add(3*time.Hour).Format(time.RFC3339)
	if res := fleetctl(t, "status", "--repo", gittest.FileURL(healthy.repo.BareDir), later, "--fail-on-unhealthy"); res.code != 1 {
		t.Errorf("--fail-on-unhealthy with stale nodes: exit %d, want 1", res.code)
	}
}

func TestStatusUsage(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"status", "--repo", "file:///nonexistent", "extra"},
		{"status", "--repo", "file:///nonexistent", "-o", "github"},
		{"status", "--repo", "file:///nonexistent", "--heartbeat", "-1h"},
		{"status", "--repo", "file:///nonexistent", "--now", "yesterday"},
		{"status", "--repo", "file:///nonexistent", "--known-hosts", "/etc/ssh/ssh_known_hosts"},
		{"status", "--repo", "file:///nonexistent", "--history-depth", "0"},
	} {
		res := fleetctl(t, args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, "Run 'fleetctl status --help' for usage.") {
			t.Errorf("fleetctl %s: exit %d, stderr %q; want usage error", strings.Join(args, " "), res.code, res.stderr)
		}
	}
	// A repository that does not exist is a failure to read, not bad usage.
	if res := fleetctl(t, "status", "--repo", "file://"+filepath.Join(t.TempDir(), "none.git")); res.code != 1 {
		t.Errorf("missing repository: exit %d, stderr %q; want 1", res.code, res.stderr)
	}

	help := fleetctl(t, "status", "--help")
	for _, want := range []string{"--fail-on-unhealthy", "--html FILE", "--status-repo", "--git-password-file", "--ssh-key", "Examples:", "fleetctl status --repo"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("status --help lacks %q", want)
		}
	}
	if strings.Contains(help.stdout, "--now") {
		t.Error("status --help shows the hidden --now")
	}
}

// TestStatusSSH reads the fleet from sshd with --ssh-key and --known-hosts.
func TestStatusSSH(t *testing.T) {
	f := newStatusFixture(t)
	base, key, knownHosts := gittest.ServeSSH(t, f.repo.BareParent)
	url := base + "/" + f.repo.Name
	res := fleetctl(t, "status", "--repo", url, nowFlag, "--ssh-key", key, "--known-hosts", knownHosts)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("status over ssh: exit %d, stderr %q", res.code, res.stderr)
	}
	want := readFile(t, filepath.Join(testdata, "status/text.golden"))
	if got := strings.ReplaceAll(res.stdout, url, "FLEET-REPO"); got != want {
		t.Errorf("text over ssh:\n%s\nwant:\n%s", got, want)
	}
	// A server whose host key is not the known one is refused.
	_, _, otherHosts := gittest.ServeSSH(t, f.repo.BareParent)
	res = fleetctl(t, "status", "--repo", url, nowFlag, "--ssh-key", key, "--known-hosts", otherHosts)
	if res.code != 1 || !strings.Contains(res.stderr, "fleetctl:") {
		t.Errorf("unknown host key: exit %d, stderr %q; want 1", res.code, res.stderr)
	}
	t.Logf("unknown host key: %s", res.stderr)
}
