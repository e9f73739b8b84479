package runtime

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
)

// A workload's stop signal is what stops it: the echo server does not
// handle SIGQUIT, so Go's runtime exits with status 2 (SIGTERM would have
// ended it with 143, SIGKILL with 137). The status is taken from
// containerd's exit event: the shim copies a task's output to its log on
// its own time, so the log is no witness on a loaded machine.
func TestRemoveSendsTheWorkloadsStopSignal(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("quitter", porttest.Port(t), nil)
	d.Spec.StopSignal = "SIGQUIT"
	// Go's exit on SIGQUIT writes every goroutine's stack to the task's
	// log first: on a loaded machine that can outlast the default stop
	// timeout, and this test is about the signal, not the timeout.
	d.Spec.StopTimeout = &spec.Duration{Duration: 2 * time.Minute}
	d = withHash(d.Name, d.Spec)
	e.run(t, d, "rev1")
	exits := taskExits(t, e.c)
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Fatalf("List after Remove = %+v, want nothing", ins)
	}
	if code := <-exits; code != 2 {
		t.Errorf("exit status %d, want 2 (Go's exit on SIGQUIT)", code)
	}
}

// A process that ignores its stop signal (Go ignores SIGWINCH) is killed
// after the workload's stop timeout and removed.
func TestRemoveKillsAfterTheStopTimeout(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("deaf", porttest.Port(t), nil)
	d.Spec.StopSignal = "SIGWINCH"
	d.Spec.StopTimeout = &spec.Duration{Duration: time.Second}
	d = withHash(d.Name, d.Spec)
	e.run(t, d, "rev1")
	exits := taskExits(t, e.c)
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Fatalf("List after Remove = %+v, want nothing", ins)
	}
	if code := <-exits; code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit status %d, want %d (SIGKILL)", code, 128+int(syscall.SIGKILL))
	}
}

// taskExits returns the exit status of the next container task (not an
// exec'd process) to exit in c's namespace. The subscription is live when
// it returns: a marker event published until the subscriber sees one.
func taskExits(t *testing.T, c *Containerd) <-chan int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ns(t.Context()), waitLimit)
	ch, errs := c.client.Subscribe(ctx, fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, c.cfg.Namespace))
	live := make(chan struct{})
	out := make(chan int, 1)
	go func() {
		defer cancel()
		defer close(out)
		for {
			select {
			case env := <-ch:
				v, err := typeurl.UnmarshalAny(env.Event)
				e, ok := v.(*apievents.TaskExit)
				switch {
				case err != nil || !ok:
				case e.ContainerID == "subscribed":
					select {
					case <-live:
					default:
						close(live)
					}
				case e.ID == e.ContainerID:
					out <- int(e.ExitStatus)
					return
				}
			case err := <-errs:
				t.Errorf("exit events: %v", err)
				out <- -1
				return
			}
		}
	}()
	for {
		if err := c.client.EventService().Publish(ctx, "/tasks/exit", &apievents.TaskExit{ContainerID: "subscribed", ID: "marker"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-live:
			return out
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the exit event subscription never saw its marker")
		}
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
