package runtime

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// A workload's stop signal is what stops it: the echo server does not
// handle SIGQUIT, so Go's runtime writes "SIGQUIT: quit" to its log as it
// exits.
func TestRemoveSendsTheWorkloadsStopSignal(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("quitter", freePort(t), nil)
	d.Spec.StopSignal = "SIGQUIT"
	d = withHash(d.Name, d.Spec)
	e.run(t, d, "rev1")
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Fatalf("List after Remove = %+v, want nothing", ins)
	}
	b, err := os.ReadFile(e.c.Logs(d.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "SIGQUIT: quit") {
		t.Errorf("the workload's log does not show SIGQUIT:\n%s", b)
	}
}

// A process that ignores its stop signal (Go ignores SIGWINCH) is killed
// after the workload's stop timeout and removed.
func TestRemoveKillsAfterTheStopTimeout(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("deaf", freePort(t), nil)
	d.Spec.StopSignal = "SIGWINCH"
	d.Spec.StopTimeout = &spec.Duration{Duration: time.Second}
	d = withHash(d.Name, d.Spec)
	e.run(t, d, "rev1")
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Fatalf("List after Remove = %+v, want nothing", ins)
	}
}

func TestStopPolicyFromLabels(t *testing.T) {
	c := &Containerd{cfg: Config{StopTimeout: 10 * time.Second}}
	cases := []struct {
		ws      spec.WorkloadSpec
		sig     syscall.Signal
		timeout time.Duration
	}{
		{spec.WorkloadSpec{}, syscall.SIGTERM, 10 * time.Second},
		{spec.WorkloadSpec{StopSignal: "SIGINT"}, syscall.SIGINT, 10 * time.Second},
		{spec.WorkloadSpec{StopSignal: "SIGQUIT", StopTimeout: &spec.Duration{Duration: 90 * time.Second}}, syscall.SIGQUIT, 90 * time.Second},
		{spec.WorkloadSpec{StopTimeout: &spec.Duration{Duration: 1500 * time.Millisecond}}, syscall.SIGTERM, 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		sig, timeout := c.stopPolicy(stopLabels(tc.ws))
		if sig != tc.sig || timeout != tc.timeout {
			t.Errorf("%+v: stop with %v after %v, want %v after %v", tc.ws, sig, timeout, tc.sig, tc.timeout)
		}
	}
	if sig, timeout := c.stopPolicy(map[string]string{LabelStopSignal: "NOPE", LabelStopTimeout: "x"}); sig != syscall.SIGTERM || timeout != 10*time.Second {
		t.Errorf("unreadable labels: %v after %v, want the defaults", sig, timeout)
	}
}
