package plan_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/plan"
)

// TestStatusKeyWarning: a node that a later rollout wave waits for but
// that enrols no status key is warned of at its file; one with a key, and
// one in the last wave, are not.
func TestStatusKeyWarning(t *testing.T) {
	wire := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	sum := sha256.Sum256([]byte("c2"))
	key := "ssh-ed25519 " + base64.StdEncoding.EncodeToString(append(wire([]byte("ssh-ed25519")), wire(sum[:])...)) + " fleetd@c2"
	node := func(name, labels, extra string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: " + name + "\n  labels: {" + labels + "}\n" + extra)}
	}
	fsys := fstest.MapFS{
		"fleet.yaml":              {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\n")},
		"workloads/detector.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: r.example/d@sha256:" + strings.Repeat("ab", 32) + "\n")},
		"groups/line-a.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [detector]\n" +
			"  rollout:\n    waves:\n      - {name: canary, selector: {matchLabels: {canary: \"true\"}}}\n      - {name: rest}\n")},
		"nodes/c1.yaml": node("c1", `line: a, canary: "true"`, ""),
		"nodes/c2.yaml": node("c2", `line: a, canary: "true"`, "spec:\n  statusKey: "+key+"\n"),
		"nodes/n1.yaml": node("n1", "line: a", ""),
	}
	rep, err := plan.Check(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	var got []string
	for _, w := range rep.Warnings {
		if w.Field == "spec.statusKey" {
			got = append(got, w.String())
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "nodes/c1.yaml:4: spec.statusKey: ") || !strings.Contains(got[0], "wave canary of group line-a") {
		t.Errorf("status key warnings = %q; want one, for nodes/c1.yaml", got)
	}
}
