package fleetstatus_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

const (
	digestV1 = "sha256:1111111111112222222222222222222222222222222222222222222222222222"
	digestV2 = "sha256:aaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// newRolloutFleet is a fleet whose group line-a rolls out in two waves
// (canary: press-01; rest: press-02, press-03). The head moves the
// detector to v2: press-01 runs it, press-02 still runs v1 at the old
// revision, press-03 never reported.
func newRolloutFleet(t *testing.T) (repo *gittest.Repo, head string) {
	t.Helper()
	r := gittest.NewRepo(t)
	workload := func(ref string) string {
		return "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: " + ref + "\n"
	}
	r.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant}\nspec: {}\n")
	r.Write("workloads/detector.yaml", workload("127.0.0.1:5000/models/detector:v1@"+digestV1))
	r.Write("groups/line-a.yaml", `apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [detector]
  rollout:
    waves:
      - {name: canary, selector: {matchLabels: {canary: "yes"}}}
      - {name: rest}
`)
	r.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01, labels: {site: plant-1, line: a, canary: \"yes\"}}\n"+"spec:\n  statusKey: "+statusKeyLine(t, "press-01")+"\n")
	r.Write("nodes/press-02.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-02, labels: {site: plant-1, line: a}}\n"+"spec:\n  statusKey: "+statusKeyLine(t, "press-02")+"\n")
	r.Write("nodes/press-03.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-03, labels: {site: plant-1, line: a}}\n"+"spec:\n  statusKey: "+statusKeyLine(t, "press-03")+"\n")
	base := r.Commit("detector v1")
	r.Write("workloads/detector.yaml", workload("127.0.0.1:5000/models/detector:v2@"+digestV2))
	head = r.Commit("detector v2")
	ready := status.Condition{Type: "Ready", Status: "True", Reason: "Applied"}
	wl := func(tag, digest string) status.Workload {
		return status.Workload{Name: "detector", Image: "127.0.0.1:5000/models/detector:" + tag + "@" + digest, State: status.StateRunning}
	}
	writeStatusRefs(t, r.BareDir, []statusReport{
		{"press-01", time.Minute, report("press-01", head, head, ready, wl("v2", digestV2)), nil},
		{"press-02", time.Minute, report("press-02", head, base, ready, wl("v1", digestV1)), nil},
	})
	return r, head
}

// TestModelsRolloutsLinks: the outputs say which model version runs on
// which node, show the rollout wave by wave, sort rows worst first, and
// link commits to the forge's pages.
func TestModelsRolloutsLinks(t *testing.T) {
	r, head := newRolloutFleet(t)
	tmpl := "https://git.example.com/plant/fleet/commit/{commit}"
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(r.BareDir)), CommitURL: tmpl})

	// Worst first: press-03 (offline), press-02 (updating), press-01.
	var order []string
	for _, n := range f.Nodes {
		order = append(order, n.Name+" "+string(n.State))
	}
	if got, want := strings.Join(order, ", "), "press-03 offline, press-02 updating, press-01 up-to-date"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
	for _, n := range f.Nodes {
		want := map[string]string{"press-01": "detector v2@aaaaaaaaaaaa", "press-02": "detector v1@111111111111"}[n.Name]
		got := ""
		if len(n.Models) == 1 {
			got = n.Models[0].String()
		}
		if got != want {
			t.Errorf("%s models %v, want %q", n.Name, n.Models, want)
		}
	}
	if len(f.Models) != 1 || len(f.Models[0].Versions) != 2 {
		t.Fatalf("models %+v, want detector in 2 versions", f.Models)
	}
	if len(f.Rollouts) != 1 || len(f.Rollouts[0].Waves) != 2 {
		t.Fatalf("rollouts %+v, want line-a in 2 waves", f.Rollouts)
	}
	canary, rest := f.Rollouts[0].Waves[0], f.Rollouts[0].Waves[1]
	if canary.Name != "canary" || canary.AtHead != 1 || !canary.Done() || rest.Name != "rest" || rest.AtHead != 0 ||
		len(rest.Nodes) != 2 || rest.Counts[fleetstatus.Updating] != 1 || rest.Counts[fleetstatus.Offline] != 1 {
		t.Errorf("waves %+v", f.Rollouts[0].Waves)
	}

	var text, md, js bytes.Buffer
	if err := f.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"MODELS", "detector v2@aaaaaaaaaaaa",
		"detector  v1@111111111111  127.0.0.1:5000/models/detector  1 node: press-02",
		"          v2@aaaaaaaaaaaa  127.0.0.1:5000/models/detector  1 node: press-01",
		"line-a: wave canary 1/1 at head (1 up-to-date) → wave rest 0/2 at head (1 updating, 1 offline)",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if err := f.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if want := "[`" + head[:7] + "`](https://git.example.com/plant/fleet/commit/" + head + ")"; !strings.Contains(md.String(), want) {
		t.Errorf("markdown lacks the link %s:\n%s", want, md.String())
	}
	if err := f.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"commitURL": "` + tmpl + `"`, `"tag": "v2"`, `"atHead": 1`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}

	// The page, rendered by Chromium.
	var page bytes.Buffer
	if err := f.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(chromium(t, path, "--dump-dom"))
	for _, want := range []string{
		`<tr class="model" data-workload="detector"><td rowspan="2" class="name">detector</td><td class="rev">v1@111111111111</td>`,
		`<td class="rev">v2@aaaaaaaaaaaa</td>`,
		`<div class="model" data-workload="detector">detector <code>v2@aaaaaaaaaaaa</code></div>`,
		`<div class="wave done" data-wave="canary" title="press-01">`,
		`<div class="wave" data-wave="rest" title="press-02, press-03">`,
		`<a href="https://git.example.com/plant/fleet/commit/` + head + `">`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	// Rows worst first within the site's table.
	if i, j := strings.Index(dom, `id="node-press-03"`), strings.Index(dom, `id="node-press-01"`); i < 0 || j < 0 || i > j {
		t.Errorf("press-03 (offline) is not above press-01 (up-to-date) in the page")
	}
}

// TestCommitLinksOfForges: commit pages are linked for the URL shapes of
// GitHub, GitLab, Gitea and Forgejo, over https, ssh and scp-like URLs,
// and for nothing else.
func TestCommitLinksOfForges(t *testing.T) {
	r, head := newRolloutFleet(t)
	for _, tc := range []struct{ repo, want string }{
		{"https://github.com/acme/fleet.git", "https://github.com/acme/fleet/commit/"},
		{"git@github.com:acme/fleet.git", "https://github.com/acme/fleet/commit/"},
		{"https://ci:token@gitlab.example.com/plant/edge/fleet.git", "https://gitlab.example.com/plant/edge/fleet/-/commit/"},
		{"ssh://git@gitea.example.com:2222/ops/fleet.git", "https://gitea.example.com/ops/fleet/commit/"},
		{"https://codeberg.org/ops/fleet", "https://codeberg.org/ops/fleet/commit/"},
		{"https://forgejo.example.org/ops/fleet.git", "https://forgejo.example.org/ops/fleet/commit/"},
		{"https://git.example.com/ops/fleet.git", ""},
	} {
		got := fleetstatus.CommitURLOf(tc.repo)
		if tc.want == "" {
			if got != "" {
				t.Errorf("%s: link %q, want none", tc.repo, got)
			}
			continue
		}
		if u := fleetstatus.CommitURL(got, head); u != tc.want+head {
			t.Errorf("%s: commit page %q, want %q", tc.repo, u, tc.want+head)
		}
	}
	// A local repository has no forge: no links at all.
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(r.BareDir))})
	var page bytes.Buffer
	f.WriteHTML(&page)
	if f.CommitURL != "" || strings.Contains(page.String(), "<a href") {
		t.Errorf("file:// fleet: commit URL %q, page has links", f.CommitURL)
	}
}
