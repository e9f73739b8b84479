package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/plan"
)

// TestPinAndPlanThroughMirror: fleet.yaml sends the images of
// registry.invalid, which does not exist, to a mirror under the path
// prefix cache/. pin resolves tags there and plan sizes downloads there,
// the source fleetd verifies and pulls from. Both real registries serve
// as the mirror.
func TestPinAndPlanThroughMirror(t *testing.T) {
	for _, m := range ocitest.Kinds() {
		t.Run(m.Name, func(t *testing.T) {
			mirror := m.Start(t)
			v1img, v2img := modelImage(t, `{"v":1}`), modelImage(t, `{"v":2,"weights":[0.1,0.2,0.3]}`)
			ocitest.Push(t, v1img, mirror+"/cache/models/detector:v1")
			ocitest.Push(t, v2img, mirror+"/cache/models/detector:v2")

			g := gittest.NewRepo(t)
			g.Write("fleet.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: plant}
spec:
  registries:
    - {host: registry.invalid, mirrors: ["%s/cache"]}
    - {host: "%s", plainHTTP: true}
`, mirror, mirror))
			g.Write("groups/line-a.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [detector]\n")
			for _, n := range []string{"press-01", "press-02"} {
				g.Write("nodes/"+n+".yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: "+n+", labels: {line: a}}\n")
			}
			workload := func(tag string) {
				g.Write("workloads/detector.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: registry.invalid/models/detector:"+tag+"\n")
			}
			pin := func(tag string, want fmt.Stringer) {
				t.Helper()
				workload(tag)
				r := fleetctl(t, "pin", g.Dir)
				wantRef := "registry.invalid/models/detector:" + tag + "@" + want.String()
				if r.code != 0 || !strings.Contains(r.stdout, "pinned "+wantRef) {
					t.Fatalf("pin: exit %d, want %s pinned\n%s%s", r.code, wantRef, r.stdout, r.stderr)
				}
			}
			d1, err := v1img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			d2, err := v2img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			pin("v1", d1)
			base := g.Commit("detector v1")
			pin("v2", d2)
			head := g.Commit("detector v2")

			r := fleetctl(t, "plan", "--repo", g.Dir, "--base", base, "--head", head, "--output", "json")
			var p plan.Plan
			if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
				t.Fatalf("plan: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
			}
			layers, err := v2img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			weights, err := layers[1].Size()
			if err != nil {
				t.Fatal(err)
			}
			// Each node downloads v2's weights; the runtime layer it has.
			if !p.Summary.DownloadComplete || p.Summary.DownloadBytes != 2*weights || p.Summary.NodesChanged != 2 {
				t.Errorf("plan summary %+v; want 2 nodes downloading %d bytes each, every size known", p.Summary, weights)
			}
		})
	}
}
