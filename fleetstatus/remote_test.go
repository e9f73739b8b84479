package fleetstatus_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

const password = "s3cret-token-123"

// statusRepo makes an empty bare repository next to the fleet repo's.
func statusRepo(t *testing.T, fx *fixture) string {
	t.Helper()
	dir := filepath.Join(fx.repo.BareParent, "status.git")
	gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

// TestStatusRepoWithCredentials keeps the status refs in a repository of
// their own, both served with basic auth; the password is given in the
// URL for one and in Auth for the other, and never printed.
func TestStatusRepoWithCredentials(t *testing.T) {
	fx := newFixture(t)
	dir := statusRepo(t, fx)
	// Move the status refs over to the status repository.
	gittest.Git(t, fx.repo.BareDir, "push", "-q", dir, "refs/heads/status/*:refs/heads/status/*")
	for _, ref := range strings.Fields(gittest.Git(t, fx.repo.BareDir, "for-each-ref", "--format=%(refname)", "refs/heads/status/")) {
		gittest.Git(t, fx.repo.BareDir, "update-ref", "-d", ref)
	}
	base := gittest.ServeHTTP(t, fx.repo.BareParent, "fleet", password)
	withCreds := strings.Replace(base, "http://", "http://fleet:"+password+"@", 1)

	f := collect(t, fleetstatus.Options{
		Repo:         loc(t, withCreds+"/fleet.git"),
		StatusRepo:   loc(t, base+"/status.git", source.Auth{Username: "fleet", Password: password}),
		HistoryDepth: 3,
	})
	if f.Repo != base+"/fleet.git" || f.StatusRepo != base+"/status.git" {
		t.Errorf("Repo, StatusRepo = %s, %s; want them without credentials", f.Repo, f.StatusRepo)
	}
	out := render(t, f)
	for ext, s := range out {
		if strings.Contains(s, password) {
			t.Errorf("%s output contains the password:\n%s", ext, s)
		}
	}
	if !strings.Contains(out["txt"], "status refs from STATUS-REPO") {
		t.Errorf("text output does not name the status repository:\n%s", out["txt"])
	}
	// The nodes read the same as from the fleet repo itself.
	if got, want := nodeLines(out["txt"]), nodeLines(goldenText(t)); got != want {
		t.Errorf("nodes read from a status repository:\n%s\nwant:\n%s", got, want)
	}
}

func goldenText(t *testing.T) string {
	t.Helper()
	fx := newFixture(t)
	return render(t, collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), HistoryDepth: 3}))["txt"]
}

// nodeLines drops the header lines that name repositories.
func nodeLines(text string) string {
	_, rest, _ := strings.Cut(text, "\nNODE")
	return rest
}

func TestWrongPassword(t *testing.T) {
	fx := newFixture(t)
	base := gittest.ServeHTTP(t, fx.repo.BareParent, "fleet", "right")
	_, err := fleetstatus.Collect(context.Background(), fleetstatus.Options{
		Repo: loc(t, base+"/fleet.git", source.Auth{Username: "fleet", Password: password}),
	})
	if err == nil {
		t.Fatal("Collect with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error contains the password: %v", err)
	}
}

func TestEmptyStatusRepo(t *testing.T) {
	fx := newFixture(t)
	dir := statusRepo(t, fx)
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), StatusRepo: loc(t, gittest.FileURL(dir))})
	if f.Counts[fleetstatus.Offline] != len(fleetNodes) || len(f.Nodes) != len(fleetNodes) {
		t.Errorf("counts %v for %d nodes, want all %d offline", f.Counts, len(f.Nodes), len(fleetNodes))
	}
	for _, n := range f.Nodes {
		if n.Reason != "never reported" || n.LastSeen != nil {
			t.Errorf("%s: reason %q, last seen %v; want never reported", n.Name, n.Reason, n.LastSeen)
		}
	}
}

func TestBranchNotFound(t *testing.T) {
	fx := newFixture(t)
	_, err := fleetstatus.Collect(context.Background(), fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), Branch: "prod"})
	if !errors.Is(err, fleetstatus.ErrBranchNotFound) {
		t.Errorf("Collect of a missing branch: %v, want ErrBranchNotFound", err)
	}
}

// TestHeadDoesNotParse: a head with a spec error still yields labels and
// groups, with a warning.
func TestHeadDoesNotParse(t *testing.T) {
	fx := newFixture(t)
	fx.repo.Write("workloads/broken.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: broken}\nspec: {image: latest, bogus: 1}\n")
	fx.repo.Commit("broken")
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), HistoryDepth: 3})
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "workloads/broken.yaml") {
		t.Errorf("warnings = %q, want one naming workloads/broken.yaml", f.Warnings)
	}
	for _, n := range f.Nodes {
		if n.Name == "press-01" && (n.Site != "plant-1" || len(n.Groups) != 1 || n.State != fleetstatus.Updating) {
			t.Errorf("press-01: site %q groups %q state %s; want plant-1, [line-a], updating", n.Site, n.Groups, n.State)
		}
	}
}

// TestRewrittenHistory: an applied revision that is not in the branch's
// complete history (a force-push) is "?" behind, not an error.
func TestRewrittenHistory(t *testing.T) {
	fx := newFixture(t)
	gone := strings.Repeat("ab", 20)
	writeStatusRefs(t, fx.repo.BareDir, []statusReport{{node: "press-01", age: time.Minute,
		st: report("press-01", gone, gone, status.Condition{Type: "Ready", Status: "True", Reason: "Applied"})}})
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir))})
	for _, n := range f.Nodes {
		if n.Name == "press-01" && (n.Behind != nil || n.State != fleetstatus.Updating) {
			t.Errorf("press-01: behind %v, state %s; want unknown, updating", n.Behind, n.State)
		}
	}
}
