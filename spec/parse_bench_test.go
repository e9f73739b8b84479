package spec_test

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// BenchmarkParseFleet measures Parse of a fleet of 10,000 node files as
// bench/fleetgen.go writes them, with the shortcuts (PlainNode, node files
// decoded on GOMAXPROCS goroutines) and without.
func BenchmarkParseFleet(b *testing.B) {
	fsys := fstest.MapFS{
		"fleet.yaml":         {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Fleet\nmetadata: {name: bench}\n")},
		"workloads/m-0.yaml": {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Workload\nmetadata: {name: m-0}\nspec:\n  image: registry.example.com/models/m0@sha256:" + fmt.Sprintf("%064d", 0) + "\n  ports: [8080]\n")},
		"groups/line-a.yaml": {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [m-0]\n")},
	}
	for i := range 10000 {
		name := fmt.Sprintf("node-%05d", i)
		fsys["nodes/"+name+".yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n  labels: {site: plant-%d, line: %c}\n", spec.APIVersion, name, i%7, 'a'+i%4))}
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("shortcuts=%t", on), func(b *testing.B) {
			defer spec.SetShortcuts(on)()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := spec.Parse(fsys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
