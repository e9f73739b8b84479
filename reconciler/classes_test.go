package reconciler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/status"
)

// TestRuntimeTroubleIsRetriedNotRolledBack: a Run error the runtime does not
// classify as the workload's own (containerd or its shim failing) is
// transient: the new spec does not count as failed, nothing is rolled back,
// and the next pass tries the same spec again.
func TestRuntimeTroubleIsRetriedNotRolledBack(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	good, _ := h.rt.get("detector")
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("a"), "debug")})
	newHash := resolveHash(t, h, "rev2", "detector")
	h.rt.runErr[newHash] = errors.New("failed to start shim: mkdir /run/containerd/io.containerd.runtime.v2.task/gitfleet/x: file exists")

	err := h.pass(t)
	var rb *RollbackError
	if err == nil || fault.ClassOf(err) != fault.Transient || errors.As(err, &rb) {
		t.Fatalf("pass = %v (class %s); want a transient error and no rollback", err, fault.ClassOf(err))
	}
	if in, _ := h.rt.get("detector"); in.SpecHash != good.SpecHash || in.PID != good.PID {
		t.Errorf("detector = %+v; want the rev1 container untouched", in)
	}
	st := h.rep.last().Status
	if c := st.Conditions[0]; c.Reason != status.ReasonRetrying || st.AppliedRevision != "rev1" {
		t.Errorf("Ready = %+v, applied %s; want Retrying at rev1", c, st.AppliedRevision)
	}
	if _, failed := h.r.failed["detector"]; failed {
		t.Error("the new spec was recorded as failed after the runtime's own error")
	}

	delete(h.rt.runErr, newHash)
	if err := h.pass(t); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if in, _ := h.rt.get("detector"); in.SpecHash != newHash || in.Revision != "rev2" {
		t.Errorf("after the retry detector = %+v; want rev2's spec", in)
	}
}

// TestPassLogSaysTheClass: the pass's log line names its outcome in the
// class words.
func TestPassLogSaysTheClass(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, insecure())
	h.r.log = slog.New(slog.NewTextHandler(&buf, nil))
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	for _, step := range []struct {
		setup func()
		want  string
	}{
		{func() {}, "result=applied"},
		{func() {
			h.rt.pullErr = netErr{}
			h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("b"), "info")})
		}, "result=retrying"},
		{func() {
			h.rt.pullErr = nil
			h.commit("rev3", map[string]string{"detector": workloadYAML("detector", "r/m:latest", "info")})
		}, "result=refused"},
	} {
		buf.Reset()
		step.setup()
		_ = h.r.Pass(context.Background())
		if !strings.Contains(buf.String(), step.want) {
			t.Errorf("log %q lacks %q", buf.String(), step.want)
		}
	}
}

// TestRefusalWarnsOncePerRevision: a refused revision is logged at WARN on
// the pass that refuses it, at DEBUG on the passes after (the refusal
// stands until the branch moves), and a no-op pass logs at DEBUG.
func TestRefusalWarnsOncePerRevision(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, insecure())
	h.r.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	h.pass(t) // nothing new
	if strings.Count(buf.String(), "msg=pass") != 1 {
		t.Errorf("a no-op pass logged at INFO:\n%s", buf.String())
	}
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", "r/m:latest", "info")})
	for range 3 {
		if err := h.pass(t); fault.ClassOf(err) != fault.Refused {
			t.Fatalf("pass = %v, want refused", err)
		}
	}
	if got := strings.Count(buf.String(), "level=WARN msg=pass result=refused"); got != 1 {
		t.Errorf("refusal logged %d times at WARN over 3 passes, want 1:\n%s", got, buf.String())
	}
	h.commit("rev3", map[string]string{"detector": workloadYAML("detector", "r/m:other", "info")})
	h.pass(t)
	if got := strings.Count(buf.String(), "level=WARN msg=pass result=refused"); got != 2 {
		t.Errorf("a new refused revision logged %d WARN lines in all, want 2:\n%s", got, buf.String())
	}
}
