package status

import "testing"

// TestLogTailAloneIsNoChange: a failing workload's log grows between
// reports; that alone commits nothing, while its log rides along with a
// report that changes for another reason.
func TestLogTailAloneIsNoChange(t *testing.T) {
	code := 3
	old := &NodeStatus{Status: Status{AppliedRevision: "a1", Workloads: []Workload{
		{Name: "detector", Image: "r/m@sha256:1", State: StateStopped, ExitCode: &code, Restarts: 2, LogTail: "line 1"},
	}}}
	grown := &NodeStatus{Status: Status{AppliedRevision: "a1", Workloads: []Workload{
		{Name: "detector", Image: "r/m@sha256:1", State: StateStopped, ExitCode: &code, Restarts: 2, LogTail: "line 1\nline 2"},
	}}}
	if got := Changes(old, grown); len(got) != 0 {
		t.Errorf("Changes with only the log tail grown = %q, want none", got)
	}
	restarted := &NodeStatus{Status: Status{AppliedRevision: "a1", Workloads: []Workload{
		{Name: "detector", Image: "r/m@sha256:1", State: StateStopped, ExitCode: &code, Restarts: 3, LogTail: "line 1\nline 2"},
	}}}
	if got := Changes(old, restarted); len(got) != 1 || got[0] != "detector restarted (3)" {
		t.Errorf("Changes after a restart = %q, want the restart", got)
	}
	b, err := Marshal(restarted)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil || back.Status.Workloads[0].LogTail != "line 1\nline 2" {
		t.Errorf("the log tail does not survive the YAML form: %v\n%s", err, b)
	}
}
