package status

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() *NodeStatus {
	return &NodeStatus{
		Metadata: Meta{Name: "press-01"},
		Status: Status{
			ObservedRevision: "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678",
			AppliedRevision:  "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678",
			LastSeen:         time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
			Conditions: []Condition{{Type: "Ready", Status: "True", Reason: "Applied", Message: "1 workload healthy",
				LastTransitionTime: time.Date(2026, 11, 22, 9, 50, 0, 0, time.FixedZone("CET", 3600))}},
			Workloads: []Workload{{Name: "defect-classifier", Image: "r.example/m@sha256:" + strings.Repeat("ab", 32),
				State: StateRunning, Health: "healthy"}},
		},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	st := sample()
	b, err := Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: gitfleet.dev/v1alpha1", "kind: NodeStatus", "errors: []", "lastSeen: \"2026-11-22T09:00:00Z\"", "lastTransitionTime: \"2026-11-22T08:50:00Z\""} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Marshal output lacks %q:\n%s", want, b)
		}
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := normalize(st)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", *got, want)
	}
	if len(Changes(st, got)) != 0 {
		t.Errorf("Changes after round trip = %q, want none", Changes(st, got))
	}
	if _, err := Unmarshal([]byte("apiVersion: v1\nkind: Pod\n")); err == nil {
		t.Error("Unmarshal of another kind succeeded")
	}
}

// TestConditionWithoutTransitionTime: a report without the time (from an
// older fleetd, or a condition that never changed) leaves the field out.
func TestConditionWithoutTransitionTime(t *testing.T) {
	st := sample()
	st.Status.Conditions[0].LastTransitionTime = time.Time{}
	b, err := Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "lastTransitionTime") {
		t.Errorf("Marshal wrote a zero lastTransitionTime:\n%s", b)
	}
	if c := st.Status.Condition(ConditionReady); c == nil || c.Status != ConditionTrue {
		t.Errorf("Condition(Ready) = %+v", c)
	}
	if c := st.Status.Condition("Other"); c != nil {
		t.Errorf("Condition(Other) = %+v, want nil", c)
	}
}

func TestChanges(t *testing.T) {
	exit1 := 1
	tests := []struct {
		name   string
		old    *NodeStatus
		modify func(*NodeStatus)
		want   []string
	}{
		{"first report", nil, func(*NodeStatus) {}, []string{"applied 1a2b3c4", "defect-classifier running healthy", "Ready True (Applied)"}},
		{"only lastSeen", sample(), func(s *NodeStatus) { s.Status.LastSeen = s.Status.LastSeen.Add(time.Hour) }, nil},
		{"nil vs empty errors", sample(), func(s *NodeStatus) { s.Status.Errors = []Error{} }, nil},
		{"applied", sample(), func(s *NodeStatus) {
			s.Status.ObservedRevision = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
			s.Status.AppliedRevision = s.Status.ObservedRevision
		}, []string{"applied 9f8e7d6"}},
		{"refused", sample(), func(s *NodeStatus) {
			s.Status.ObservedRevision = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
			s.Status.Errors = []Error{
				{File: "workloads/x.yaml", Line: 7, Field: "spec.image", Reason: "must be pinned by digest"},
				{File: "groups/a.yaml", Reason: "unknown workload y"},
			}
			s.Status.Conditions[0] = Condition{Type: "Ready", Status: "False", Reason: "Refused"}
		}, []string{"refused 9f8e7d6: workloads/x.yaml:7: spec.image: must be pinned by digest (and 1 more)", "Ready False (Refused)"}},
		{"retrying", sample(), func(s *NodeStatus) {
			s.Status.ObservedRevision = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
			s.Status.Errors = []Error{{Ref: "r.example/m@sha256:ab", Reason: "registry r.example unavailable: 503 Service Unavailable"}}
			s.Status.Conditions[0] = Condition{Type: "Ready", Status: "False", Reason: ReasonRetrying}
		}, []string{"retrying: r.example/m@sha256:ab: registry r.example unavailable: 503 Service Unavailable", "Ready False (Retrying)"}},
		{"older agent's Failing", sample(), func(s *NodeStatus) {
			s.Status.Errors = []Error{{Reason: "list containers: connection refused"}}
			s.Status.Conditions[0] = Condition{Type: "Ready", Status: "False", Reason: "Failing"}
		}, []string{"retrying: list containers: connection refused", "Ready False (Failing)"}},
		{"refused while applied", sample(), func(s *NodeStatus) {
			s.Status.Errors = []Error{{Reason: "poll: authentication required"}}
			s.Status.Conditions[0] = Condition{Type: "Ready", Status: "False", Reason: ReasonRefused}
		}, []string{"refused: poll: authentication required", "Ready False (Refused)"}},
		{"workload failed and added", sample(), func(s *NodeStatus) {
			s.Status.Workloads[0].State = StateFailed
			s.Status.Workloads[0].ExitCode = &exit1
			s.Status.Workloads[0].Restarts = 3
			s.Status.Workloads = append(s.Status.Workloads, Workload{Name: "aaa", State: StatePending})
		}, []string{"aaa pending", "defect-classifier failed (exit 1)", "defect-classifier restarted (3)"}},
		{"workload removed", sample(), func(s *NodeStatus) { s.Status.Workloads = nil }, []string{"defect-classifier removed"}},
		{"verification off", sample(), func(s *NodeStatus) { s.Status.VerificationDisabled = true }, []string{"verification disabled"}},
		{"condition message only", sample(), func(s *NodeStatus) { s.Status.Conditions[0].Message = "other" }, []string{"status updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sample()
			tt.modify(n)
			got := Changes(tt.old, n)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Changes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChangesErrorsCleared(t *testing.T) {
	old := sample()
	old.Status.Errors = []Error{{Ref: "registry.example/m@sha256:ab", Reason: "unreachable"}}
	if got, want := Changes(old, sample()), []string{"errors cleared"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changes = %q, want %q", got, want)
	}
	if got, want := FormatError(old.Status.Errors[0]), "registry.example/m@sha256:ab: unreachable"; got != want {
		t.Errorf("FormatError = %q, want %q", got, want)
	}
}

func TestUnmarshalRefusesRepeats(t *testing.T) {
	head := "apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: press-01}\nstatus:\n"
	for _, tc := range []struct{ body, want string }{
		{"  conditions:\n  - {type: Ready, status: \"True\"}\n  - {type: Ready, status: \"False\"}\n", `status.conditions[1]: type "Ready" repeated`},
		{"  workloads:\n  - {name: detector, state: running}\n  - {name: detector, state: failed}\n", `status.workloads[1]: workload "detector" repeated`},
	} {
		if _, err := Unmarshal([]byte(head + tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%q) = %v, want %q", tc.body, err, tc.want)
		}
	}
}
