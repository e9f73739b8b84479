package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// BenchmarkPlanCommand10k runs `fleetctl plan` on a git repo of 10,000
// nodes (packed, as a clone is) where the change moves group line-3, 1,000
// nodes, to a new image, with sizes from a real registry.
func BenchmarkPlanCommand10k(b *testing.B) {
	host := ocitest.NewRegistry(b)
	oldRef := ocitest.RandomImage(b, host, "models/detector")
	newRef := ocitest.RandomImage(b, host, "models/detector")
	r := gittest.NewRepo(b)
	r.Write("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: big}\nspec:\n  registries: [{host: %q, plainHTTP: true}]\n", host))
	r.Write("workloads/detector.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: "+oldRef+"\n  ports: [8080]\n")
	group := func(i int, extra string) string {
		return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-%d}\nspec:\n  selector: {matchLabels: {line: l%d}}\n  workloads: [detector]\n%s", i, i, extra)
	}
	for i := range 10 {
		r.Write(fmt.Sprintf("groups/line-%d.yaml", i), group(i, ""))
	}
	for i := range 10_000 {
		r.Write(fmt.Sprintf("nodes/node-%05d.yaml", i), fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%05d\n  labels: {site: plant-%d, line: l%d}\n", i, i%7, i%10))
	}
	base := r.Commit("10k nodes")
	r.Write("groups/line-3.yaml", group(3, "  overrides:\n    detector: {image: "+newRef+"}\n"))
	head := r.Commit("line-3: new model")
	gittest.Git(b, r.Dir, "repack", "-a", "-d", "-q")
	b.ResetTimer()
	for b.Loop() {
		var stderr strings.Builder
		if code := run(b.Context(), []string{"plan", "--repo", r.Dir, "--base", base, "--head", head, "--output", "markdown"}, io.Discard, &stderr); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
}
