package plan

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

// fleet10k is a fleet of n nodes in ten groups of n/10 (label line: l0 to
// l9), each group running one workload; in head, group line-3 moves to
// another image, which touches n/10 nodes.
func fleet10k(n int, host, oldRef, newRef string) (base, head fstest.MapFS) {
	base = fstest.MapFS{
		"fleet.yaml": {Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Fleet\nmetadata: {name: big}\nspec:\n  registries:\n    - {host: %q, plainHTTP: true}\n  hostPaths: [/var/lib/models]\n", spec.APIVersion, host))},
		"workloads/detector.yaml": {Data: []byte(fmt.Sprintf(`apiVersion: %s
kind: Workload
metadata: {name: detector}
spec:
  image: %s
  args: ["--listen", ":8080"]
  env: {LOG_LEVEL: info}
  ports: [8080]
  resources: {memory: 64Mi, cpu: 250m}
  health: {http: {port: 8080, path: /healthz}}
`, spec.APIVersion, oldRef))},
	}
	group := func(i int, override string) []byte {
		return []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: line-%d}\nspec:\n  selector: {matchLabels: {line: l%d}}\n  workloads: [detector]\n%s", spec.APIVersion, i, i, override))
	}
	for i := range 10 {
		base[fmt.Sprintf("groups/line-%d.yaml", i)] = &fstest.MapFile{Data: group(i, "")}
	}
	for i := range n {
		name := fmt.Sprintf("node-%05d", i)
		base["nodes/"+name+".yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n  labels: {site: plant-%d, line: l%d}\n", spec.APIVersion, name, i%7, i%10))}
	}
	head = fstest.MapFS{}
	for k, v := range base {
		head[k] = v
	}
	head["groups/line-3.yaml"] = &fstest.MapFile{Data: group(3, "  overrides:\n    detector: {image: "+newRef+"}\n")}
	return base, head
}

// BenchmarkPlan10k plans a change that moves 1,000 of 10,000 nodes to a
// new image, with the image sizes read from a real (in-memory) registry.
func BenchmarkPlan10k(b *testing.B) {
	host := ocitest.NewRegistry(b)
	oldRef := ocitest.RandomImage(b, host, "models/detector")
	newRef := ocitest.RandomImage(b, host, "models/detector")
	base, head := fleet10k(10_000, host, oldRef, newRef)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		reg, err := image.NewSizer(image.Options{}, "")
		if err != nil {
			b.Fatal(err)
		}
		p, err := Compute(ctx, Revision{Name: "base", FS: base}, Revision{Name: "head", FS: head}, Options{Manifests: reg})
		if err != nil {
			b.Fatal(err)
		}
		if p.Summary.NodesChanged != 1000 || p.Summary.DownloadBytes == 0 || p.Summary.DownloadBytes%1000 != 0 || !p.Summary.DownloadComplete {
			b.Fatalf("summary = %+v", p.Summary)
		}
	}
}
