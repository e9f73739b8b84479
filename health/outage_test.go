package health_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
)

// While containerd is down an exec probe cannot run: that is no failure of
// the workload (which goes on serving), so a healthy verdict stays healthy
// through more lost probes than the failure threshold, and probes pass
// again once containerd is back. Otherwise an outage longer than the
// threshold would roll a good version back.
func TestExecProbesThroughAContainerdOutage(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	rt, image := st.rt, st.image
	port := porttest.Port(t)
	const threshold = 2
	w := withHash("steady", spec.WorkloadSpec{
		Image: image, Args: []string{"--listen", fmt.Sprintf(":%d", port)}, Ports: []int{port},
		Health: &spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "-h"}},
			Period: dur(time.Second), Timeout: dur(time.Minute), FailureThreshold: threshold},
	})
	if err := rt.Run(ctx, w, "rev1"); err != nil {
		t.Fatal(err)
	}
	m, probes := st.startMonitor(t)
	m.Set([]spec.Desired{w})
	if ok, err := m.Wait(ctx, w.Name, w.Hash); err != nil || !ok {
		h, _ := m.Get(w.Name)
		t.Fatalf("before the outage: healthy %v, %v (%+v)", ok, err, h)
	}

	if err := st.d.KillProcess(); err != nil {
		t.Fatal(err)
	}
	rs, _ := probes.waitFor(ctx, w.Name, func(rs []error) bool { return notRun(rs) > threshold })
	if n := notRun(rs); n <= threshold {
		t.Fatalf("%d probes not run during the outage, want more than %d", n, threshold)
	}
	h, _ := m.Get(w.Name)
	if h.State != health.Healthy || h.ConsecutiveFailures != 0 || !strings.HasPrefix(h.Message, "probe not run: ") {
		t.Errorf("during the outage: %+v, want healthy with no failure counted and the message saying the probe did not run", h)
	}

	if err := st.d.StartProcess(); err != nil {
		t.Fatal(err)
	}
	before := len(rs)
	probes.waitFor(ctx, w.Name, func(rs []error) bool { return len(rs) > before && rs[len(rs)-1] == nil })
	if h, _ := m.Get(w.Name); h.State != health.Healthy || h.Message != "" {
		t.Errorf("after the outage: %+v, want healthy", h)
	}
}

// notRun counts the probe results that could not run.
func notRun(rs []error) int {
	n := 0
	for _, err := range rs {
		if health.NotRun(err) {
			n++
		}
	}
	return n
}
