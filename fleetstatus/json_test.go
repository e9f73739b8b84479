package fleetstatus_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// TestWriteJSONIsOneDocument: WriteJSON, which encodes the nodes in
// chunks on several goroutines, writes exactly what encoding/json's
// indented encoder writes for the whole fleet at once, with no nodes, none
// at all (nil) and more nodes than one chunk holds.
func TestWriteJSONIsOneDocument(t *testing.T) {
	seen := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	many := make([]fleetstatus.Node, 700)
	for i := range many {
		many[i] = fleetstatus.Node{
			Name: fmt.Sprintf("node-%03d", i), Site: fmt.Sprintf("plant <%d> & co", i%3),
			Labels: map[string]string{"site": "plant", "line": fmt.Sprint(i % 4)}, Declared: i%5 != 0, Reported: i%7 != 0,
			State: fleetstatus.States()[i%len(fleetstatus.States())], Reason: "naïve \"quoted\" reason\n",
			Workloads: []status.Workload{{Name: "detector", Image: "r.example/m@sha256:" + fmt.Sprintf("%064d", i), State: status.StateRunning}},
			Errors:    []string{}, Models: []fleetstatus.Model{}, LastSeen: &seen,
		}
		if i%2 == 0 {
			many[i].Errors = append(many[i].Errors, "workloads/d.yaml:3: spec.image: <not pinned>")
			many[i].Workloads = nil
		}
	}
	for name, nodes := range map[string][]fleetstatus.Node{"nil": nil, "none": {}, "one": many[:1], "many": many} {
		t.Run(name, func(t *testing.T) {
			f := &fleetstatus.Fleet{
				Repo: "https://git.example.com/fleet.git", Branch: "main", Head: "abc", GeneratedAt: seen,
				Heartbeat: spec.Duration{Duration: time.Hour}, GroupBy: "site",
				Counts: map[fleetstatus.State]int{fleetstatus.Failing: 1}, Nodes: nodes, Warnings: []string{"<b>"},
				Models: []fleetstatus.ModelVersions{}, Rollouts: []fleetstatus.Rollout{},
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := f.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				i := 0
				for i < min(got.Len(), want.Len()) && got.Bytes()[i] == want.Bytes()[i] {
					i++
				}
				t.Errorf("WriteJSON differs from encoding/json at byte %d of %d: got %q, want %q", i, want.Len(),
					got.Bytes()[max(0, i-40):min(got.Len(), i+40)], want.Bytes()[max(0, i-40):min(want.Len(), i+40)])
			}
			// A writer that fails is an error, wherever it fails.
			for _, limit := range []int{0, 100, want.Len() / 2, want.Len() - 1} {
				if err := f.WriteJSON(&failingWriter{left: limit}); !errors.Is(err, errWrite) {
					t.Errorf("writer failing after %d bytes: %v, want its error", limit, err)
				}
			}
		})
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errWrite
	}
	w.left -= len(p)
	return len(p), nil
}
