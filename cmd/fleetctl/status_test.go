package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

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

	// The work tree's directory is read as --repo too, but a clone has no
	// status refs of its own: every node is offline, the output says
	// where status refs live, and the command exits 1 saying so.
	res = fleetctl(t, "status", "--repo", f.repo.Dir, nowFlag, "-o", "json")
	if res.code != 1 || !strings.Contains(res.stderr, "no status refs") || !strings.Contains(res.stderr, "give the server's URL") {
		t.Fatalf("status --repo DIR: exit %d, stderr %q; want 1 and where status refs live", res.code, res.stderr)
	}
	s = parseStatusJSON(t, res.stdout)
	if s.Counts["offline"] != len(statusNodes) || s.Head != f.revs[1] {
		t.Errorf("--repo DIR: counts %v head %s; want all %d offline at %s", s.Counts, s.Head, len(statusNodes), f.revs[1])
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "refs/remotes/origin/status/*") {
		t.Errorf("--repo DIR: warnings %q, want the hint", s.Warnings)
	}
	res = fleetctl(t, "status", "--repo", f.repo.Dir, nowFlag)
	if res.code != 1 || !strings.Contains(res.stdout, "no status refs") {
		t.Errorf("status --repo DIR text: exit %d, the text output lacks the hint:\n%s", res.code, res.stdout)
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
