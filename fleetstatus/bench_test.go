package fleetstatus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

// bigFleet builds a fleet repo with n nodes in nodes/ and one status ref
// per node, all written by one git fast-import, and serves it over smart
// HTTP. Most nodes are up to date; every 10th is a commit behind, every
// 50th failing and every 100th stale.
func bigFleet(tb testing.TB, n int) (url string, head string) {
	tb.Helper()
	r := gittest.NewRepo(tb)
	for name, content := range fleetFiles {
		r.Write(name, content)
	}
	for i := range n {
		name := fmt.Sprintf("node-%04d", i)
		r.Write("nodes/"+name+".yaml", nodeFile(tb, name, fmt.Sprintf("site-%d", i%10), []string{"a", "b"}[i%2]))
	}
	prev := r.Commit("fleet")
	r.Write("workloads/detector.yaml", fleetFiles["workloads/detector.yaml"]+"  env: {LOG_LEVEL: debug}\n")
	head = r.Commit("detector: debug")
	reports := make([]statusReport, 0, n)
	for i := range n {
		name := fmt.Sprintf("node-%04d", i)
		applied, age := head, time.Duration(i%50)*time.Minute
		if i%10 == 0 {
			applied = prev
		}
		if i%100 == 0 {
			age = 5 * time.Hour
		}
		w := status.Workload{Name: "detector", Image: "127.0.0.1:5000/models/detector" + digest, State: status.StateRunning, Health: "healthy"}
		if i%50 == 25 {
			w.State = status.StateFailed
		}
		reports = append(reports, statusReport{node: name, age: age,
			st: report(name, head, applied, status.Condition{Type: "Ready", Status: "True", Reason: "Applied"}, w)})
	}
	writeStatusRefs(tb, r.BareDir, reports)
	gittest.Git(tb, r.BareDir, "pack-refs", "--all")
	return gittest.ServeHTTP(tb, r.BareParent, "", "") + "/" + r.Name, head
}

// TestThousandNodes checks Collect over 1,000 status refs served over
// smart HTTP, and logs how long it took (BenchmarkCollect1000 measures it).
func TestThousandNodes(t *testing.T) {
	url, head := bigFleet(t, 1000)
	start := time.Now()
	f := collect(t, fleetstatus.Options{Repo: loc(t, url)})
	t.Logf("Collect over 1,000 status refs (smart HTTP, loopback): %s", time.Since(start).Round(time.Millisecond))
	if f.Head != head || len(f.Nodes) != 1000 {
		t.Fatalf("head %s, %d nodes; want %s, 1000", f.Head, len(f.Nodes), head)
	}
	want := map[fleetstatus.State]int{fleetstatus.Stale: 10, fleetstatus.Failing: 20, fleetstatus.Updating: 90, fleetstatus.UpToDate: 880}
	for s, c := range want {
		if f.Counts[s] != c {
			t.Errorf("Counts[%s] = %d, want %d", s, f.Counts[s], c)
		}
	}
}

func BenchmarkCollect1000(b *testing.B) {
	url, _ := bigFleet(b, 1000)
	opts := fleetstatus.Options{Repo: loc(b, url), Now: func() time.Time { return now }}
	for b.Loop() {
		if _, err := fleetstatus.Collect(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
	}
}
