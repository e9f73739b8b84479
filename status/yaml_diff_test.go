package status

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/internal/yamlcorpus"
)

// refUnmarshal is Unmarshal as it was before it stored values directly:
// the reference the differential tests compare it with.
func refUnmarshal(b []byte) (*NodeStatus, error) {
	var st NodeStatus
	if err := yaml.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("unmarshal status: %w", err)
	}
	if st.APIVersion != APIVersion || st.Kind != Kind {
		return nil, fmt.Errorf("unmarshal status: got apiVersion %q kind %q, want %s %s", st.APIVersion, st.Kind, APIVersion, Kind)
	}
	if err := unique(&st); err != nil {
		return nil, fmt.Errorf("unmarshal status: %w", err)
	}
	if st.Status.Errors == nil {
		st.Status.Errors = []Error{}
	}
	if len(st.Status.Conditions) == 0 {
		st.Status.Conditions = nil
	}
	if len(st.Status.Workloads) == 0 {
		st.Status.Workloads = nil
	}
	return &st, nil
}

// reportCorpus returns every YAML document of the repository (its .yaml
// and .yml files and those of its txtar archives), the Go string literals
// of its tests that hold an apiVersion or kind, and reports Marshal wrote.
func reportCorpus(t testing.TB) map[string][]byte {
	out, err := yamlcorpus.Documents("..")
	if err != nil {
		t.Fatal(err)
	}
	full := sample()
	exit := 137
	full.Status.Workloads[0].State, full.Status.Workloads[0].ExitCode = StateFailed, &exit
	full.Status.Errors = []Error{{File: "workloads/x.yaml", Line: 7, Field: "spec.image", Reason: "must be pinned"}, {Ref: "r.example/m@sha256:ab", Reason: "unreachable"}}
	full.Status.Poll = &Poll{Via: PollViaGit, Protocol: "v2", Message: "head URL stale"}
	full.Status.Outage = &Outage{Class: "source", Since: full.Status.LastSeen, Until: &full.Status.LastSeen, Failures: 3, Reason: "down"}
	full.Status.VerificationDisabled = true
	for i, st := range []*NodeStatus{sample(), full} {
		b, err := Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("Marshal %d", i)] = b
	}
	if len(out) < 100 {
		t.Fatalf("found %d YAML documents in the repository, want at least 100", len(out))
	}
	return out
}

// sameUnmarshal fails unless Unmarshal and the reference return the same
// report or the same error for b.
func sameUnmarshal(t *testing.T, name string, b []byte) {
	t.Helper()
	got, gotErr := Unmarshal(b)
	want, wantErr := refUnmarshal(b)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: error %v, reference %v\ninput %q", name, gotErr, wantErr, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\ngot       %#v\nreference %#v\ninput %q", name, got, want, b)
	}
}

// TestUnmarshalSameAsReference compares Unmarshal with the path through
// JSON it replaced, on every YAML document of the repository and on
// reports that differ from ours in the ways a hand or a newer fleetd may
// write them.
func TestUnmarshalSameAsReference(t *testing.T) {
	corpus := reportCorpus(t)
	const head = "apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n}\n"
	for i, s := range []string{
		"status: {lastSeen: 2026-11-22T10:00:00+01:00, errors: null}",
		"status: {lastSeen: 2026-11-22 10:00:00, errors: []}",
		"status: {lastSeen: 1, errors: []}",
		"status: {conditions: [{type: Ready, status: True}, {type: X, status: yes}, {type: Y, status: 0777, reason: 1e3}]}",
		"status: {workloads: [{name: a, restarts: 1.0}]}",
		"status: {observedRevision: 0000000000000000000000000000000000000042, appliedRevision: 0000000000000000000000000000000000000089}",
		"status: {observedRevision: 1e5, appliedRevision: .nan, conditions: [{type: -.inf, status: 1.5e300, reason: 0.1}]}",
		"status: {workloads: [{name: a, restarts: \"1\"}]}",
		"status: {workloads: [{name: a, restarts: 99999999999999999999}]}",
		"status: {workloads: [{name: a, exitCode: null}, {name: b, exitCode: -1}], futureField: {1: .nan}}",
		"status: {futureField: .inf}",
		"status: {futureField: [{? [a]: b}]}",
		"status: {Errors: [{reason: x}]}",
		"Status: {errors: [{reason: x}]}",
		"status: {errors: [{reason: !!binary gIGC}]}",
		"status: {errors: [{reason: \"\\x7f\\u0085\\ufeff\"}]}",
		"status: {poll: {via: git}, outage: {class: source, since: 2026-11-22T10:00:00Z, until: null, failures: 2}}",
		"status: {verificationDisabled: yes, observedRevision: 0x1F, appliedRevision: ~}",
		"status: &a {observedRevision: r}\nx: *a",
		"status:\n  <<: {observedRevision: r}\n  appliedRevision: s",
		"status: [1]",
		"status: {conditions: {type: Ready}}",
		"status: {conditions: [{type: Ready}, {type: Ready}]}",
		"status: {workloads: [{name: a}, {name: a}]}",
		"status: {conditions: [], workloads: []}",
		"status: {lastSeen: \"2026-11-22T10:00:00Z\"}\n---\nkind: Other",
		"status: {lastSeen: \"2026-11-22T10:00:00Z\"\n",
		"1: 2",
		"",
	} {
		corpus[fmt.Sprintf("case %d", i)] = []byte(head + s + "\n")
	}
	for name, b := range corpus {
		sameUnmarshal(t, name, b)
	}
}

// TestUnmarshalDirect checks that reports as fleetd and bench's fixture
// write them are read directly, not through JSON.
func TestUnmarshalDirect(t *testing.T) {
	block, flow := benchReports(t)
	reports := map[string][]byte{"block": block, "flow": flow}
	// bench's fixture writes revisions of digits: octal, decimal, float.
	for _, rev := range []int{42, 89, 1234567} {
		reports[fmt.Sprint("flow ", rev)] = bytes.ReplaceAll(flow, []byte("0000000000000000000000000000000000000042"), fmt.Appendf(nil, "%040d", rev))
	}
	for name, b := range reportCorpus(t) {
		if strings.HasPrefix(name, "Marshal") {
			reports[name] = b
		}
	}
	for name, b := range reports {
		var st NodeStatus
		if !unmarshalDirect(b, &st) {
			t.Errorf("%s is read through JSON:\n%s", name, b)
		}
	}
}

// FuzzUnmarshalSame compares Unmarshal with the path through JSON it
// replaced, for any input. Seeds are the repository's YAML and reports.
func FuzzUnmarshalSame(f *testing.F) {
	for _, b := range reportCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameUnmarshal(t, "input", b)
	})
}
