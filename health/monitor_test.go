package health

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// script is an injected probe: each workload's result is a function of the
// time since the bubble started, and every call is counted.
type script struct {
	start time.Time
	mu    sync.Mutex
	fail  map[string]func(since time.Duration) error
	calls map[string]int
}

func newScript() *script {
	return &script{start: time.Now(), fail: map[string]func(time.Duration) error{}, calls: map[string]int{}}
}

func (s *script) set(name string, f func(since time.Duration) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[name] = f
}

func (s *script) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *script) probe(ctx context.Context, d spec.Desired) error {
	s.mu.Lock()
	s.calls[d.Name]++
	f := s.fail[d.Name]
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(time.Since(s.start))
}

var errDown = errors.New("connection refused")

func failUntil(at time.Duration) func(time.Duration) error {
	return func(since time.Duration) error {
		if since < at {
			return errDown
		}
		return nil
	}
}

func failFrom(at time.Duration) func(time.Duration) error {
	return func(since time.Duration) error {
		if since >= at {
			return errDown
		}
		return nil
	}
}

func always(err error) func(time.Duration) error {
	return func(time.Duration) error { return err }
}

// workload is a desired workload with an HTTP health check.
func workload(name, hash string, start, period time.Duration, threshold int) spec.Desired {
	return spec.Desired{Name: name, Hash: hash, Spec: spec.WorkloadSpec{Health: &spec.Health{
		HTTP:             &spec.HTTPProbe{Port: 8080, Path: "/healthz"},
		StartPeriod:      spec.Duration{Duration: start},
		Period:           spec.Duration{Duration: period},
		Timeout:          spec.Duration{Duration: 2 * time.Second},
		FailureThreshold: threshold,
	}}}
}

// bubble runs f in a synctest bubble with a running Monitor probing by s.
func bubble(t *testing.T, f func(t *testing.T, m *Monitor, s *script)) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		m := NewMonitor(Config{Probe: s.probe})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Run(ctx)
		}()
		f(t, m, s)
		cancel()
		<-done
	})
}

// waitVerdict calls Wait and returns its result and the time it took.
func waitVerdict(t *testing.T, m *Monitor, name, hash string) (bool, time.Duration) {
	t.Helper()
	start := time.Now()
	ok, err := m.Wait(t.Context(), name, hash)
	if err != nil {
		t.Fatalf("Wait(%s): %v", name, err)
	}
	return ok, time.Since(start)
}

func TestHealthyAtFirstProbe(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		m.Set([]spec.Desired{workload("a", "h1", 0, 10*time.Second, 3)})
		ok, took := waitVerdict(t, m, "a", "h1")
		if !ok || took != 0 {
			t.Errorf("Wait = %v after %v, want healthy at once", ok, took)
		}
		h, _ := m.Get("a")
		if h.State != Healthy || h.Hash != "h1" || h.ConsecutiveFailures != 0 || h.Message != "" {
			t.Errorf("Get = %+v, want healthy", h)
		}
		// Healthy: probed every period, no more.
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := s.count("a"), 7; got != want {
			t.Errorf("%d probes in the first minute, want %d (at 0, 10s, …, 60s)", got, want)
		}
	})
}

func TestUnhealthyAfterThreshold(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		s.set("a", always(errDown))
		m.Set([]spec.Desired{workload("a", "h1", 0, 10*time.Second, 3)})
		ok, took := waitVerdict(t, m, "a", "h1")
		// Starting: probed every second, so 3 failures take 2 s.
		if ok || took != 2*time.Second {
			t.Errorf("Wait = %v after %v, want unhealthy after 2s", ok, took)
		}
		h, _ := m.Get("a")
		if h.State != Unhealthy || h.ConsecutiveFailures != 3 || h.Message != errDown.Error() {
			t.Errorf("Get = %+v, want unhealthy after 3 failures with the probe's error", h)
		}
		// Unhealthy: back to the period.
		before := s.count("a")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := s.count("a") - before; got != 3 {
			t.Errorf("%d probes in 30 s while unhealthy, want 3", got)
		}
	})
}

func TestStartPeriodIsGrace(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		s.set("slow", failUntil(20*time.Second))
		s.set("never", always(errDown))
		m.Set([]spec.Desired{
			workload("slow", "h1", 30*time.Second, 10*time.Second, 3),
			workload("never", "h1", 5*time.Second, 10*time.Second, 3),
		})
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if h, _ := m.Get("slow"); h.State != Starting || h.ConsecutiveFailures != 0 || h.Message == "" {
			t.Errorf("slow at 19s: %+v, want starting, failures not counted in the start period, message set", h)
		}
		ok, took := waitVerdict(t, m, "slow", "h1")
		if !ok || took != time.Second {
			t.Errorf("slow: Wait = %v after %v more, want healthy at 20s", ok, took)
		}
		h, _ := m.Get("slow")
		if !h.Since.Equal(s.start.Add(20 * time.Second)) {
			t.Errorf("slow healthy since %v, want start+20s", h.Since.Sub(s.start))
		}
		// "never": failures in 0..4s are grace; 5, 6 and 7 s count.
		h, _ = m.Get("never")
		if h.State != Unhealthy || !h.Since.Equal(s.start.Add(7*time.Second)) {
			t.Errorf("never: %+v (since +%v), want unhealthy since 7s", h, h.Since.Sub(s.start))
		}
	})
}

func TestHealthyThenUnhealthy(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		s.set("a", failFrom(15*time.Second))
		m.Set([]spec.Desired{workload("a", "h1", 0, 10*time.Second, 3)})
		if ok, _ := waitVerdict(t, m, "a", "h1"); !ok {
			t.Fatal("not healthy at first")
		}
		time.Sleep(35 * time.Second)
		synctest.Wait()
		if h, _ := m.Get("a"); h.State != Healthy || h.ConsecutiveFailures != 2 {
			t.Errorf("at 35s: %+v, want still healthy with 2 failures (20s, 30s)", h)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		h, _ := m.Get("a")
		if h.State != Unhealthy || !h.Since.Equal(s.start.Add(40*time.Second)) {
			t.Errorf("at 40s: %+v, want unhealthy since 40s", h)
		}
		// Recovery.
		s.set("a", always(nil))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h, _ := m.Get("a"); h.State != Healthy || h.ConsecutiveFailures != 0 {
			t.Errorf("after recovery: %+v, want healthy", h)
		}
	})
}

func TestTimeoutIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var deadlines []time.Duration
		var mu sync.Mutex
		probe := func(ctx context.Context, d spec.Desired) error {
			dl, _ := ctx.Deadline()
			mu.Lock()
			deadlines = append(deadlines, time.Until(dl))
			mu.Unlock()
			<-ctx.Done()
			return ctx.Err()
		}
		m := NewMonitor(Config{Probe: probe})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		d := workload("a", "h1", 0, 10*time.Second, 2)
		d.Spec.Health.Timeout.Duration = 3 * time.Second
		m.Set([]spec.Desired{d})
		start := time.Now()
		ok, err := m.Wait(t.Context(), "a", "h1")
		if err != nil || ok {
			t.Fatalf("Wait = %v, %v; want unhealthy", ok, err)
		}
		// Probe 1: 0–3 s; next 1 s later: 4–7 s.
		if took := time.Since(start); took != 7*time.Second {
			t.Errorf("unhealthy after %v, want 7s", took)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(deadlines) == 0 || deadlines[0] != 3*time.Second {
			t.Errorf("probe deadlines %v, want 3s", deadlines)
		}
		if h, _ := m.Get("a"); h.Message != context.DeadlineExceeded.Error() {
			t.Errorf("message %q, want the timeout", h.Message)
		}
	})
}

func TestSetKeepsUnchangedHashes(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		a, b := workload("a", "h1", 0, 10*time.Second, 3), workload("b", "h1", 0, 10*time.Second, 3)
		m.Set([]spec.Desired{a, b})
		waitVerdict(t, m, "a", "h1")
		waitVerdict(t, m, "b", "h1")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		ha, _ := m.Get("a")

		// a unchanged, b changed hash, c new and failing.
		s.set("c", always(errDown))
		b2 := workload("b", "h2", 10*time.Second, 10*time.Second, 3)
		s.set("b", failUntil(8*time.Second))
		m.Set([]spec.Desired{a, b2, workload("c", "h1", 0, 10*time.Second, 3)})
		if h, _ := m.Get("a"); h != ha {
			t.Errorf("a after Set: %+v, want unchanged %+v", h, ha)
		}
		if h, _ := m.Get("b"); h.State != Starting || h.Hash != "h2" {
			t.Errorf("b after Set: %+v, want starting with the new hash", h)
		}
		if ok, took := waitVerdict(t, m, "b", "h2"); !ok || took != 3*time.Second {
			t.Errorf("b: Wait = %v after %v, want healthy 3s later (at 8s)", ok, took)
		}
		if ok, _ := waitVerdict(t, m, "c", "h1"); ok {
			t.Error("c: healthy, want unhealthy")
		}
		// a kept its schedule: probes at 0, 10, 20.
		time.Sleep(13 * time.Second)
		synctest.Wait()
		if got := s.count("a"); got != 3 {
			t.Errorf("a probed %d times by 20s, want 3 (its schedule kept)", got)
		}

		m.Set([]spec.Desired{a})
		if _, ok := m.Get("b"); ok {
			t.Error("b still monitored after Set without it")
		}
		before := s.count("b")
		time.Sleep(time.Minute)
		synctest.Wait()
		if s.count("b") != before {
			t.Error("b still probed after Set without it")
		}
	})
}

func TestNoHealthCheck(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		m.Set([]spec.Desired{{Name: "plain", Hash: "h1"}})
		if ok, took := waitVerdict(t, m, "plain", "h1"); !ok || took != 0 {
			t.Errorf("Wait = %v after %v, want healthy at once", ok, took)
		}
		if h, _ := m.Get("plain"); h.Message != "no health check" {
			t.Errorf("message %q", h.Message)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if s.count("plain") != 0 {
			t.Error("a workload without a health check was probed")
		}
	})
}

func TestWaitForHashNotYetSet(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		m.Set([]spec.Desired{workload("a", "old", 0, 10*time.Second, 3)})
		go func() {
			time.Sleep(5 * time.Second)
			m.Set([]spec.Desired{workload("a", "new", 0, 10*time.Second, 3)})
		}()
		if ok, took := waitVerdict(t, m, "a", "new"); !ok || took != 5*time.Second {
			t.Errorf("Wait = %v after %v, want healthy once set, at 5s", ok, took)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := m.Wait(ctx, "missing", "h"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait for a workload never set: %v, want the context's error", err)
		}
	})
}

// A probe that could not run (explicitly transient) counts neither way;
// an unclassified error is the workload's failure.
func TestProbeNotRunKeepsTheVerdict(t *testing.T) {
	bubble(t, func(t *testing.T, m *Monitor, s *script) {
		m.Set([]spec.Desired{workload("a", "h1", 0, 10*time.Second, 3)})
		if ok, _ := waitVerdict(t, m, "a", "h1"); !ok {
			t.Fatal("not healthy at first")
		}
		s.set("a", always(fault.Retry("containerd", errDown)))
		time.Sleep(time.Minute) // six probes not run
		synctest.Wait()
		if h, _ := m.Get("a"); h.State != Healthy || h.ConsecutiveFailures != 0 || h.Message != "probe not run: "+errDown.Error() {
			t.Errorf("after probes not run: %+v, want healthy, nothing counted", h)
		}
		s.set("a", always(errDown))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if h, _ := m.Get("a"); h.State != Unhealthy {
			t.Errorf("after failed probes: %+v, want unhealthy", h)
		}
	})
}
