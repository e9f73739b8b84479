package main

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// TestPlanGolden plans the pull request that moves group line-a to
// defect-classifier v2: press-01 and press-02 change, oven-02 (which runs
// the workload through its own spec.workloads) does not, and each changed
// node downloads only v2's weights layer, since v1 shares the other.
func TestPlanGolden(t *testing.T) {
	f := newFixture(t)
	for _, format := range []string{"text", "markdown", "json"} {
		t.Run(format, func(t *testing.T) {
			r := fleetctl(t, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", f.head, "--output", format)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			golden(t, "plan/line-a-v2."+format+".golden", f.normalize(r.stdout))
		})
	}
	r := fleetctl(t, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", f.head, "--output", "json")
	var p plan.Plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	weights := layerSize(t, f.v2, 1)
	want := plan.Summary{Nodes: 4, NodesChanged: 2, WorkloadsChanged: 2, DownloadBytes: 2 * weights, DownloadComplete: true}
	if p.Summary != want {
		t.Errorf("summary = %+v, want %+v", p.Summary, want)
	}
	// Revisions by name, and the repository by URL.
	r = fleetctl(t, "plan", "--repo", gittest.FileURL(f.repo.BareDir), "--base", "main~1", "--head", "main", "--output", "json")
	var byName plan.Plan
	if err := json.Unmarshal([]byte(r.stdout), &byName); err != nil {
		t.Fatalf("%v\n%s", err, r.stderr)
	}
	if byName.Summary != want || byName.Base != f.base || byName.Head != f.head {
		t.Errorf("by URL and names: %+v", byName)
	}
}

// layerSize is the compressed size of layer i of the image ref.
func layerSize(t *testing.T, ref string, i int) int64 {
	t.Helper()
	sizer, err := image.NewSizer(image.Options{}, "")
	if err != nil {
		t.Fatal(err)
	}
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := sizer.Layers(t.Context(), ref, []spec.Registry{{Host: img.Host, PlainHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	return layers[i].Size
}

// TestPlanRegistryDown plans against a registry nobody listens on: each
// image says so and the plan is complete otherwise; it exits 3
// (unreachable), not 1 (refused).
func TestPlanRegistryDown(t *testing.T) {
	g := gittest.NewRepo(t)
	host := fmt.Sprintf("127.0.0.1:%d", porttest.Port(t))
	writeExample(t, g, host, nil)
	base := g.Commit("example")
	g.Write("groups/line-b.yaml", strings.Join([]string{
		"apiVersion: gitfleet.dev/v1alpha1", "kind: Group", "metadata: {name: line-b}", "spec:",
		"  selector: {matchLabels: {line: b}}", "  workloads: [vibration-anomaly]", "  overrides:",
		"    vibration-anomaly:",
		"      image: " + host + "/models/vibration-anomaly@sha256:" + strings.Repeat("ab", 32),
		"      restart: on-failure", ""}, "\n"))
	head := g.Commit("line-b: new vibration model")
	r := fleetctl(t, "plan", "--repo", g.Dir, "--base", base, "--head", head)
	if r.code != 3 || !strings.Contains(r.stderr, "registry unreachable") {
		t.Fatalf("exit %d, want 3 (unreachable)\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := strings.ReplaceAll(r.stdout, host, "REGISTRY")
	out = strings.ReplaceAll(strings.ReplaceAll(out, base[:12], "BASE"), head[:12], "HEAD")
	golden(t, "plan/registry-down.text.golden", out)
}

// TestPlanBrokenHead: a head that does not parse is refused with its
// errors, exit 1.
func TestPlanBrokenHead(t *testing.T) {
	f := newFixture(t)
	f.repo.Write("workloads/defect-classifier.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: defect-classifier}\nspec:\n  image: models/defect:latest\n")
	head := f.repo.Commit("unpinned")
	r := fleetctl(t, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", head, "--output", "markdown")
	if r.code != 1 || !strings.Contains(r.stdout, "workloads/defect-classifier.yaml:5: spec.image: must be pinned") || !strings.Contains(r.stdout, plan.MarkdownMarker) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCollectFrom: the collector is off until the heap passes the floor,
// collects at the percent given from then on, and restore puts back what
// it found.
func TestCollectFrom(t *testing.T) {
	read := func() (percent, limit uint64) {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	p0, l0 := read()
	restore := collectFrom(32<<20, 123)
	if p, l := read(); p != math.MaxUint64 || l != 32<<20 {
		t.Errorf("at the start: GOGC %d, limit %d; want off (%d) and %d", p, l, uint64(math.MaxUint64), 32<<20)
	}
	var sink []byte
	for deadline := time.Now().Add(20 * time.Second); ; {
		if p, l := read(); p == 123 && l == l0 {
			break
		}
		if time.Now().After(deadline) {
			p, l := read()
			t.Fatalf("GOGC %d, limit %d after allocating past the floor", p, l)
		}
		for range 64 {
			sink = make([]byte, 1<<20) // garbage
		}
		time.Sleep(time.Millisecond)
	}
	_ = sink
	restore()
	if p, l := read(); p != p0 || l != l0 {
		t.Errorf("restored: GOGC %d, limit %d; want %d, %d", p, l, p0, l0)
	}
	if l0 != math.MaxInt64 {
		t.Logf("the test ran with a memory limit of %d", l0)
	}
}
