package spec

import (
	"os"
	"testing"
)

// benchFiles are realistic files of each kind: the example fleet repo's
// commented ones and the flow-style ones bench/fleetgen.go generates by the
// thousand.
var benchFiles = []struct {
	name, file string
	new        func() any
}{
	{"node", "../examples/fleet-repo/nodes/oven-02.yaml", func() any { return new(Node) }},
	{"group", "../examples/fleet-repo/groups/line-b.yaml", func() any { return new(Group) }},
	{"workload", "../examples/fleet-repo/workloads/defect-classifier.yaml", func() any { return new(Workload) }},
	{"fleet", "../examples/fleet-repo/fleet.yaml", func() any { return new(Fleet) }},
}

var benchGenerated = []struct {
	name, data string
	new        func() any
}{
	{"gen-node", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-00042\n  labels: {site: plant-0, line: c}\n", func() any { return new(Node) }},
	{"gen-group", "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-c}\nspec:\n  selector: {matchLabels: {line: c}}\n  workloads: [model-2]\n", func() any { return new(Group) }},
	{"gen-workload", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: model-2}\nspec:\n  image: registry.example.com/models/m2@sha256:0000000000000000000000000000000000000000000000000000000000000002\n  ports: [8082]\n  resources: {memory: 256Mi, cpu: \"0.5\"}\n", func() any { return new(Workload) }},
}

// BenchmarkDecodeFile measures the strict decoder on one file of each kind.
func BenchmarkDecodeFile(b *testing.B) {
	run := func(b *testing.B, data []byte, newV func() any) {
		b.ReportAllocs()
		for b.Loop() {
			var errs errorList
			if _, ok := decodeFile("f.yaml", data, newV(), &errs); !ok || len(errs) > 0 {
				b.Fatalf("decode: %v", errs.err())
			}
		}
	}
	for _, f := range benchFiles {
		data, err := os.ReadFile(f.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name, func(b *testing.B) { run(b, data, f.new) })
	}
	for _, f := range benchGenerated {
		b.Run(f.name, func(b *testing.B) { run(b, []byte(f.data), f.new) })
	}
}
