package fleetstatus_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

// now is the injected clock of every test; report ages count from it.
var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const digest = "@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"

// fleetFiles is a small fleet repo: two lines on two sites.
var fleetFiles = map[string]string{
	"fleet.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: plant}
spec:
  status: {heartbeat: 1h}
`,
	"workloads/detector.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: detector}
spec:
  image: 127.0.0.1:5000/models/detector` + digest + `
  args: ["--threshold", "0.5"]
`,
	"workloads/vibration.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: vibration}
spec:
  image: 127.0.0.1:5000/models/vibration` + digest + `
`,
	"groups/line-a.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [detector]
`,
	"groups/line-b.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-b}
spec:
  selector: {matchLabels: {line: b}}
  workloads: [vibration]
`,
}

// fleetNodes are the nodes/ files: name → site, line.
var fleetNodes = [][3]string{
	{"press-01", "plant-1", "a"},
	{"press-02", "plant-1", "a"},
	{"press-05", "plant-1", "a"},
	{"oven-01", "plant-1", "b"},
	{"oven-02", "plant-2", "b"},
	{"press-03", "plant-2", "a"},
	{"oven-03", "plant-2", "b"},
	{"press-04", "plant-2", "a"},
	{"press-06", "plant-2", "a"},
	{"oven-04", "plant-2", "b"},
}

// nodeFile is a node's file with its labels and its enrolled status key.
func nodeFile(tb testing.TB, name, site, line string) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n  labels: {site: %s, line: %s}\nspec:\n  statusKey: %s\n",
		name, site, line, statusKeyLine(tb, name))
}

// fixture is the fleet repo with five commits on main (revs, oldest
// first) and status refs for nodes in every state.
type fixture struct {
	repo *gittest.Repo
	revs []string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	r := gittest.NewRepo(t)
	for name, content := range fleetFiles {
		r.Write(name, content)
	}
	for _, n := range fleetNodes {
		r.Write("nodes/"+n[0]+".yaml", nodeFile(t, n[0], n[1], n[2]))
	}
	f := &fixture{repo: r}
	f.revs = append(f.revs, r.Commit("fleet: plant"))
	for i, threshold := range []string{"0.6", "0.7", "0.8", "0.9"} {
		r.Write("workloads/detector.yaml", strings.Replace(fleetFiles["workloads/detector.yaml"], "0.5", threshold, 1))
		f.revs = append(f.revs, r.Commit(fmt.Sprintf("detector: threshold %s (%d)", threshold, i)))
	}
	head, prev, first := f.revs[4], f.revs[3], f.revs[0]

	running := func(name string) status.Workload {
		return status.Workload{Name: name, Image: "127.0.0.1:5000/models/" + name + digest, State: status.StateRunning, Health: "healthy"}
	}
	ready := status.Condition{Type: "Ready", Status: "True", Reason: "Applied", Message: "1/1 workloads running"}
	exit137 := 137
	reports := []statusReport{
		{"press-01", 5 * time.Minute, report("press-01", head, head, ready, running("detector")), nil},
		{"press-02", time.Minute, report("press-02", head, prev, ready, running("detector")), nil},
		{"press-05", 10 * time.Minute, func() *status.NodeStatus {
			s := report("press-05", head, first, ready, running("detector"))
			s.Status.VerificationDisabled = true
			return s
		}(), nil},
		{"oven-01", 2 * time.Minute, func() *status.NodeStatus {
			s := report("oven-01", head, prev, status.Condition{Type: "Ready", Status: "False", Reason: "Refused",
				Message: "revision " + head[:7] + " refused; 1/1 workloads running"}, running("vibration"))
			s.Status.Errors = []status.Error{{File: "workloads/vibration.yaml", Line: 5, Field: "spec.image", Ref: head,
				Reason: "image 127.0.0.1:5000/models/vibration: signature not trusted"}}
			return s
		}(), nil},
		{"oven-02", 3 * time.Minute, func() *status.NodeStatus {
			w := running("vibration")
			w.State, w.Health, w.ExitCode, w.Restarts, w.Message = status.StateFailed, "", &exit137, 5, "OOM killed"
			return report("oven-02", head, head, status.Condition{Type: "Ready", Status: "False", Reason: "Progressing",
				Message: "0/1 workloads running"}, w)
		}(), nil},
		{"press-03", 3*time.Hour + 20*time.Minute, report("press-03", head, head, ready, running("detector")), nil},
		{"oven-03", 3*24*time.Hour + 2*time.Hour, report("oven-03", prev, prev, ready, running("vibration")), nil},
		{"lab-01", 30 * time.Minute, nil, []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: lab-01}\nstatus: [not, a, map\n")},
		{"lab-02", 20 * time.Minute, report("press-01", head, head, ready, running("detector")), nil},
		// Healthy by their word, but press-06's report is signed by
		// press-01's key and oven-04's is not signed: untrusted.
		{"press-06", 4 * time.Minute, report("press-06", head, head, ready, running("detector")), nil},
		{"oven-04", 4 * time.Minute, report("oven-04", head, head, ready, running("vibration")), nil},
	}
	writeStatusRefsSignedBy(t, r.BareDir, reports, func(node string) string {
		switch node {
		case "press-06":
			return "press-01"
		case "oven-04":
			return ""
		}
		return node
	})
	return f
}

// statusReport is one status ref's content and its age at now: a report
// (its lastSeen is set from the age) or raw bytes.
type statusReport struct {
	node string
	age  time.Duration
	st   *status.NodeStatus
	raw  []byte
}

func report(node, observed, applied string, c status.Condition, ws ...status.Workload) *status.NodeStatus {
	return &status.NodeStatus{
		Metadata: status.Meta{Name: node},
		Status: status.Status{
			ObservedRevision: observed,
			AppliedRevision:  applied,
			Conditions:       []status.Condition{c},
			Workloads:        ws,
		},
	}
}

// writeStatusRefs commits each report as status/<node>.yaml on
// refs/heads/status/<node> of the bare repository, with git fast-import:
// one process for any number of refs. lastSeen and the commit date are
// now minus the report's age.
func writeStatusRefs(t testing.TB, bareDir string, reports []statusReport) {
	t.Helper()
	writeStatusRefsSignedBy(t, bareDir, reports, func(node string) string { return node })
}

// writeStatusRefsSignedBy is writeStatusRefs with each report signed by
// the status key of signer(node) ("": unsigned).
func writeStatusRefsSignedBy(t testing.TB, bareDir string, reports []statusReport, signer func(node string) string) {
	t.Helper()
	var stream bytes.Buffer
	for i, rep := range reports {
		when := now.Add(-rep.age)
		body := rep.raw
		if rep.st != nil {
			rep.st.Status.LastSeen = when
			var err error
			if body, err = status.Marshal(rep.st); err != nil {
				t.Fatal(err)
			}
		}
		msg := "status: report of " + rep.node
		fmt.Fprintf(&stream, "commit %s%s\nmark :%d\ncommitter fleetd <fleetd@gitfleet.invalid> %d +0000\ndata %d\n%s\n",
			"refs/heads/status/", rep.node, i+1, when.Unix(), len(msg), msg)
		fmt.Fprintf(&stream, "M 100644 inline status/%s.yaml\ndata %d\n%s\n", rep.node, len(body), body)
	}
	cmd := gittest.Command(bareDir, "fast-import", "--quiet", "--force")
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	nodes := make([]string, len(reports))
	for i, rep := range reports {
		nodes[i] = rep.node
	}
	signStatusRefs(t, bareDir, nodes, signer)
}
