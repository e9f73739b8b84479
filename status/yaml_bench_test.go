package status

import (
	"fmt"
	"testing"
)

// BenchmarkUnmarshal measures reading one report: the block style fleetd's
// Marshal writes, and the flow style of bench's fixture.
func BenchmarkUnmarshal(b *testing.B) {
	block, flow := benchReports(b)
	for _, c := range []struct {
		name string
		data []byte
	}{{"block", block}, {"flow", flow}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Unmarshal(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchReports returns a report as fleetd's Marshal writes it (block
// style) and one as bench's fixture writes it (flow style).
func benchReports(t testing.TB) (block, flow []byte) {
	block, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	flow = []byte(fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: node-00042}\nstatus:\n  observedRevision: %040d\n  appliedRevision: %040d\n  lastSeen: 2026-11-22T10:00:00Z\n  conditions: [{type: Ready, status: \"True\", reason: Applied}]\n  workloads:\n    - {name: model-2, image: \"registry.example.com/models/m@sha256:%064d\", state: running, health: healthy}\n", 42, 42, 42))
	return block, flow
}
