package fleetstatus

import (
	"errors"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/status"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	o := Options{}
	o.thresholds(0)
	head := "1111111111111111111111111111111111111111"
	old := "2222222222222222222222222222222222222222"
	ok := status.Condition{Type: "Ready", Status: "True", Reason: "Applied"}
	run := status.Workload{Name: "w", State: status.StateRunning}
	rep := func(age time.Duration, applied string, c status.Condition, ws ...status.Workload) *report {
		return &report{lastSeen: now.Add(-age), st: &status.NodeStatus{Metadata: status.Meta{Name: "n"},
			Status: status.Status{AppliedRevision: applied, Conditions: []status.Condition{c}, Workloads: ws}}}
	}
	withErr := rep(time.Minute, head, ok, run)
	withErr.st.Status.Errors = []status.Error{{Reason: "registry down"}}
	for _, tt := range []struct {
		name string
		rep  *report
		want State
	}{
		{"never reported", nil, Offline},
		{"malformed", &report{lastSeen: now.Add(-48 * time.Hour), err: errors.New("bad yaml")}, Failing},
		{"up to date", rep(time.Minute, head, ok, run), UpToDate},
		{"no workloads", rep(time.Minute, head, ok), UpToDate},
		{"just under stale", rep(2*time.Hour, head, ok, run), UpToDate},
		{"stale", rep(2*time.Hour+time.Second, head, ok, run), Stale},
		{"stale failing", rep(3*time.Hour, head, status.Condition{Type: "Ready", Status: "False", Reason: "Refused"}), Stale},
		{"offline", rep(25*time.Hour, head, ok, run), Offline},
		{"refused", rep(time.Minute, old, status.Condition{Type: "Ready", Status: "False", Reason: "Refused"}, run), Failing},
		{"failing reason", rep(time.Minute, head, status.Condition{Type: "Ready", Status: "False", Reason: "Failing"}, run), Failing},
		{"workload stopped", rep(time.Minute, head, ok, status.Workload{Name: "w", State: status.StateStopped}), Failing},
		{"workload missing", rep(time.Minute, head, ok, status.Workload{Name: "w", State: status.StateMissing}), Failing},
		{"workload unhealthy", rep(time.Minute, head, ok, status.Workload{Name: "w", State: status.StateRunning, Health: "unhealthy"}), Failing},
		{"errors", withErr, Failing},
		{"behind", rep(time.Minute, old, ok, run), Updating},
		{"nothing applied", rep(time.Minute, "", ok), Updating},
		{"progressing", rep(time.Minute, head, status.Condition{Type: "Ready", Status: "False", Reason: "Progressing"}, run), Updating},
		{"pending", rep(time.Minute, head, ok, status.Workload{Name: "w", State: status.StatePending}), Updating},
		{"other node's report", func() *report { r := rep(time.Minute, head, ok, run); r.st.Metadata.Name = "m"; return r }(), Failing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := Node{Name: "n"}
			if tt.rep != nil && tt.rep.st != nil {
				n.fill(tt.rep, &history{cache: map[string]*Behind{}})
			}
			classify(&n, tt.rep, head, now, o)
			if n.State != tt.want {
				t.Errorf("state %s (%s), want %s", n.State, n.Reason, tt.want)
			}
			if n.Reason == "" && n.State != UpToDate {
				t.Errorf("state %s without a reason", n.State)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	for _, tt := range []struct {
		in                   Options
		fleet                time.Duration
		beat, stale, offline time.Duration
	}{
		{Options{}, 0, time.Hour, 2 * time.Hour, 24 * time.Hour},
		{Options{}, 10 * time.Minute, 10 * time.Minute, 20 * time.Minute, 24 * time.Hour},
		{Options{Heartbeat: 30 * time.Hour}, time.Hour, 30 * time.Hour, 60 * time.Hour, 60 * time.Hour},
		{Options{StaleAfter: time.Hour, OfflineAfter: 3 * time.Hour}, 0, time.Hour, time.Hour, 3 * time.Hour},
	} {
		o := tt.in
		o.thresholds(tt.fleet)
		if o.Heartbeat != tt.beat || o.StaleAfter != tt.stale || o.OfflineAfter != tt.offline {
			t.Errorf("thresholds(%+v, %s) = %s, %s, %s; want %s, %s, %s", tt.in, tt.fleet,
				o.Heartbeat, o.StaleAfter, o.OfflineAfter, tt.beat, tt.stale, tt.offline)
		}
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", 3 * time.Hour: "3h",
		3*time.Hour + 20*time.Minute: "3h20m", 48 * time.Hour: "2d", 50 * time.Hour: "2d2h",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
}
