package reconciler

import (
	"reflect"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

func TestPlan(t *testing.T) {
	d := func(name, hash string) spec.Desired { return spec.Desired{Name: name, Hash: hash} }
	in := func(name, hash, state string) status.Instance {
		return status.Instance{Workload: name, SpecHash: hash, State: state}
	}
	type step struct {
		kind     ActionKind
		workload string
	}
	tests := []struct {
		name    string
		desired []spec.Desired
		actual  []status.Instance
		want    []step
	}{
		{"nothing", nil, nil, nil},
		{"first deploy", []spec.Desired{d("b", "h1"), d("a", "h2")}, nil,
			[]step{{Start, "a"}, {Start, "b"}}},
		{"adopt what runs", []spec.Desired{d("a", "h1")}, []status.Instance{in("a", "h1", status.StateRunning)}, nil},
		{"spec changed", []spec.Desired{d("a", "h2")}, []status.Instance{in("a", "h1", status.StateRunning)},
			[]step{{Replace, "a"}}},
		{"stopped is started", []spec.Desired{d("a", "h1")}, []status.Instance{in("a", "h1", status.StateStopped)},
			[]step{{Start, "a"}}},
		{"created but never started", []spec.Desired{d("a", "h1")}, []status.Instance{in("a", "h1", status.StateCreated)},
			[]step{{Start, "a"}}},
		{"stale old container beside the new", []spec.Desired{d("a", "h2")},
			[]status.Instance{in("a", "h1", status.StateRunning), in("a", "h2", status.StateRunning)},
			[]step{{Replace, "a"}}},
		{"removals first", []spec.Desired{d("z", "h1")},
			[]status.Instance{in("old", "h9", status.StateRunning)},
			[]step{{Remove, "old"}, {Start, "z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []step
			for _, a := range Plan(tt.desired, tt.actual, PlanOptions{}) {
				got = append(got, step{a.Kind, a.Workload})
				if (a.Kind == Remove) != (a.Desired == nil) {
					t.Errorf("%v: Desired set wrong", a)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlanMarksRestarts(t *testing.T) {
	p := Plan([]spec.Desired{{Name: "a", Hash: "h"}}, []status.Instance{{Workload: "a", SpecHash: "h", State: status.StateStopped, ExitCode: 2, StartedAt: time.Unix(1, 0)}}, PlanOptions{})
	if len(p) != 1 || !p[0].Restart || p[0].Reason != "container stopped (exit code 2)" {
		t.Errorf("Plan() = %+v", p)
	}
}

func TestPlanRestartPolicy(t *testing.T) {
	stopped := func(code int) []status.Instance {
		return []status.Instance{{Workload: "a", SpecHash: "h", State: status.StateStopped, ExitCode: code, StartedAt: time.Unix(1, 0)}}
	}
	d := func(policy string) []spec.Desired {
		return []spec.Desired{{Name: "a", Hash: "h", Spec: spec.WorkloadSpec{Restart: policy}}}
	}
	tests := []struct {
		name    string
		desired []spec.Desired
		actual  []status.Instance
		opts    PlanOptions
		want    int
	}{
		{"always restarts", d(spec.RestartAlways), stopped(0), PlanOptions{}, 1},
		{"never stays stopped", d(spec.RestartNever), stopped(1), PlanOptions{}, 0},
		{"on-failure after success stays stopped", d(spec.RestartOnFailure), stopped(0), PlanOptions{}, 0},
		{"on-failure after a failure restarts", d(spec.RestartOnFailure), stopped(3), PlanOptions{}, 1},
		{"a supervisor owns restarts", d(spec.RestartAlways), stopped(1), PlanOptions{Supervised: true}, 0},
		{"a container stopped before its start was recorded is started even when supervised", d(spec.RestartNever),
			[]status.Instance{{Workload: "a", SpecHash: "h", State: status.StateStopped, ExitCode: 137}}, PlanOptions{Supervised: true}, 1},
		{"a created container is started even when supervised", d(spec.RestartAlways),
			[]status.Instance{{Workload: "a", SpecHash: "h", State: status.StateCreated}}, PlanOptions{Supervised: true}, 1},
	}
	for _, tt := range tests {
		if got := len(Plan(tt.desired, tt.actual, tt.opts)); got != tt.want {
			t.Errorf("%s: %d actions, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPlanNamesDrift(t *testing.T) {
	p := Plan([]spec.Desired{{Name: "a", Hash: "h"}}, []status.Instance{{Workload: "a", State: status.StateRunning}}, PlanOptions{})
	if len(p) != 1 || p[0].Kind != Replace || !p[0].Drift || p[0].Reason != "container changed outside gitfleet" {
		t.Errorf("Plan() = %+v", p)
	}
}
