package spec_test

import (
	"errors"
	"maps"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// resolveRepo is a valid repo the tests below change after parsing, to
// reach what Parse alone would already refuse.
func resolveRepo(t *testing.T) *spec.Repo {
	t.Helper()
	fsys := fstest.MapFS{
		"fleet.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: f}
spec: {hostPaths: [/data]}
`)},
		"workloads/app.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: app}
spec:
  image: r.example/app@` + digestA + `
  env: {A: base}
`)},
		"groups/g.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: g}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [app]
  overrides:
    app:
      env: {A: group}
`)},
		"nodes/n.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata: {name: n, labels: {line: a}}
spec:
  overrides:
    app:
      env: {B: node}
`)},
	}
	r, err := spec.Parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolveErrorsNameTheFile checks that a bad value an override brings
// in is reported at the group or node file that set it.
func TestResolveErrorsNameTheFile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(r *spec.Repo)
		want   string
	}{
		{
			name: "group image",
			change: func(r *spec.Repo) {
				g := r.Groups["g"]
				g.Spec.Overrides["app"] = spec.Override{Image: "r.example/app:latest"}
			},
			want: "groups/g.yaml:8: spec.overrides.app.image: workload app on node n: must be pinned by digest (@sha256:…)",
		},
		{
			name: "node mount",
			change: func(r *spec.Repo) {
				n := r.Nodes["n"]
				n.Spec.Overrides["app"] = spec.Override{Mounts: []spec.Mount{{Source: "/etc", Target: "/etc"}}}
			},
			want: "nodes/n.yaml:6: spec.overrides.app.mounts[0].source: workload app on node n: /etc is not an allowed host path: want one of fleet.yaml's spec.hostPaths (/data) or a directory below one",
		},
		{
			name: "node env key",
			change: func(r *spec.Repo) {
				n := r.Nodes["n"]
				n.Spec.Overrides["app"] = spec.Override{Env: map[string]string{"B": "node", "BAD KEY": "x"}}
			},
			want: `nodes/n.yaml:7: spec.overrides.app.env["BAD KEY"]: workload app on node n: invalid environment variable name "BAD KEY": want letters, digits and '_', not starting with a digit`,
		},
		{
			name: "workload itself",
			change: func(r *spec.Repo) {
				w := r.Workloads["app"]
				w.Spec.Ports = []int{0}
				r.Workloads["app"] = w
			},
			want: "workloads/app.yaml:4: spec.ports[0]: workload app on node n: port 0 out of range 1-65535",
		},
		{
			name: "group assigns an unknown workload",
			change: func(r *spec.Repo) {
				g := r.Groups["g"]
				g.Spec.Workloads = []string{"ghost"}
				r.Groups["g"] = g
			},
			want: "groups/g.yaml:6: spec.workloads[0]: unknown workload \"ghost\": there is no workloads/ghost.yaml\n" +
				"nodes/n.yaml:6: spec.overrides.app: override for workload \"app\", which is not assigned to this node: no group matching its labels nor spec.workloads lists it",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := resolveRepo(t)
			tt.change(r)
			_, err := r.Resolve("n", nil)
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var se *spec.Error
			if !errors.As(err, &se) || se.File == "" || se.Line == 0 {
				t.Errorf("errors.As(*spec.Error) = %+v, want a placed error", se)
			}
		})
	}
}

// TestResolveLeavesRepoAlone checks that merging overrides does not write
// into the repo's maps and slices.
func TestResolveLeavesRepoAlone(t *testing.T) {
	r := resolveRepo(t)
	before := maps.Clone(r.Workloads["app"].Spec.Env)
	first, err := r.Resolve("n", nil)
	if err != nil {
		t.Fatal(err)
	}
	first[0].Spec.Env["X"] = "changed by the caller"
	second, err := r.Resolve("n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Workloads["app"].Spec.Env; !maps.Equal(got, before) {
		t.Errorf("workload env = %v after Resolve, want %v", got, before)
	}
	want := map[string]string{"A": "group", "B": "node"}
	if got := second[0].Spec.Env; !maps.Equal(got, want) {
		t.Errorf("second Resolve env = %v, want %v", got, want)
	}
	if second[0].Hash != spec.HashSpec(second[0].Spec) {
		t.Errorf("Hash %s is not HashSpec(Spec)", second[0].Hash)
	}
}

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"line": "a", "site": "s1"}
	for _, tt := range []struct {
		sel  map[string]string
		want bool
	}{
		{nil, true},
		{map[string]string{}, true},
		{map[string]string{"line": "a"}, true},
		{map[string]string{"line": "a", "site": "s1"}, true},
		{map[string]string{"line": "b"}, false},
		{map[string]string{"line": "a", "rack": "1"}, false},
		{map[string]string{"rack": ""}, false},
	} {
		if got := (spec.Selector{MatchLabels: tt.sel}).Matches(labels); got != tt.want {
			t.Errorf("Selector%v.Matches = %t, want %t", tt.sel, got, tt.want)
		}
	}
}
