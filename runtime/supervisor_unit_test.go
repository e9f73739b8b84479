package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/containerd/containerd/errdefs"

	"github.com/gitfleet/gitfleet/spec"
)

// fakeBackend is containerd as the Supervisor sees it, in memory.
type fakeBackend struct {
	mu   sync.Mutex
	ctrs map[string]*fakeCtr
	// crashAfter, when set, makes each restarted task exit with code
	// crashCode after that long.
	crashAfter time.Duration
	crashCode  int
	evs        chan exitEvent
}

type fakeCtr struct {
	v        ctrView
	restarts []time.Time // when the Supervisor restarted it
	exited   []time.Time
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{ctrs: map[string]*fakeCtr{}, evs: make(chan exitEvent, 16)}
}

func (b *fakeBackend) add(id, policy string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctrs[id] = &fakeCtr{v: ctrView{workload: id, policy: policy, active: true, pid: 100, startedAt: time.Now()}}
}

// exit makes the container's task exit; event says whether containerd
// reports it.
func (b *fakeBackend) exit(id string, code int, event bool) {
	b.mu.Lock()
	c := b.ctrs[id]
	c.v.active = false
	c.exited = append(c.exited, time.Now())
	pid := c.v.pid
	b.mu.Unlock()
	if event {
		b.evs <- exitEvent{container: id, pid: pid, code: code, at: time.Now()}
	}
}

func (b *fakeBackend) watch(ctx context.Context, evs chan<- exitEvent) { <-ctx.Done() }

func (b *fakeBackend) view(_ context.Context, id string) (ctrView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.ctrs[id]
	if !ok {
		return ctrView{}, errdefs.ErrNotFound
	}
	return c.v, nil
}

func (b *fakeBackend) stopped(context.Context) ([]exitEvent, map[string]ctrView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := map[string]ctrView{}
	var out []exitEvent
	for id, c := range b.ctrs {
		all[id] = c.v
		if !c.v.active && !c.v.ignore {
			out = append(out, exitEvent{container: id, code: 9, at: c.exited[len(c.exited)-1]})
		}
	}
	return out, all, nil
}

func (b *fakeBackend) restart(_ context.Context, id string, restarts int, exits []exitRecord) (bool, time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.ctrs[id]
	if !ok {
		return false, time.Time{}, errdefs.ErrNotFound
	}
	if c.v.active {
		return false, time.Time{}, nil
	}
	now := time.Now()
	c.v.active, c.v.pid, c.v.startedAt = true, c.v.pid+1, now
	c.v.restarts, c.v.exits = restarts, exits
	c.restarts = append(c.restarts, now)
	if b.crashAfter > 0 {
		time.AfterFunc(b.crashAfter, func() { b.exit(id, b.crashCode, true) })
	}
	return true, now, nil
}

// gaps returns the delays between each exit and the restart after it.
func (b *fakeBackend) gaps(id string) []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.ctrs[id]
	var out []time.Duration
	for i, r := range c.restarts {
		out = append(out, r.Sub(c.exited[i]))
	}
	return out
}

func (b *fakeBackend) restartCount(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ctrs[id].restarts)
}

// superviseFake runs f with a Supervisor over b in a synctest bubble.
func superviseFake(t *testing.T, cfg SupervisorConfig, setup func(b *fakeBackend), f func(t *testing.T, s *Supervisor, b *fakeBackend)) {
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBackend()
		if setup != nil {
			setup(b)
		}
		s, err := newSupervisor(b, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); s.loop(ctx, b.evs) }()
		synctest.Wait()
		f(t, s, b)
		cancel()
		<-done
	})
}

func TestBackoffGrowsToCapAndFlagsCrashLoop(t *testing.T) {
	cfg := SupervisorConfig{BackoffCap: 10 * time.Second}
	superviseFake(t, cfg, func(b *fakeBackend) {
		b.add("w", spec.RestartAlways)
		b.crashAfter, b.crashCode = time.Second, 3
	}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
		b.exit("w", 3, true)
		synctest.Wait()
		if st, _ := s.Status("w"); st.CrashLoop || st.RestartDelay != time.Second || !st.NextRestart.Equal(time.Now().Add(time.Second)) {
			t.Errorf("after one exit: %+v, want a restart pending in 1s, no crash loop", st)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		want := []time.Duration{1, 2, 4, 8, 10, 10}
		got := b.gaps("w")
		if len(got) < len(want) {
			t.Fatalf("gaps %v, want at least %v s", got, want)
		}
		for i, w := range want {
			if got[i] != w*time.Second {
				t.Errorf("restart %d after %v, want %v", i+1, got[i], w*time.Second)
			}
		}
		st, _ := s.Status("w")
		if !st.CrashLoop || st.Restarts != b.restartCount("w") || len(st.LastExits) != exitHistory || st.LastExits[0] != 3 {
			t.Errorf("status %+v, want a crash loop with %d restarts and exit codes 3", st, b.restartCount("w"))
		}
		if n, codes := s.Restarts("w"); n != st.Restarts || !slices.Equal(codes, st.LastExits) || !s.CrashLoop("w") {
			t.Errorf("Restarts = %d, %v; CrashLoop = %v", n, codes, s.CrashLoop("w"))
		}
	})
}

func TestBackoffResetsAfterALongRun(t *testing.T) {
	superviseFake(t, SupervisorConfig{}, func(b *fakeBackend) {
		b.add("w", spec.RestartAlways)
	}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
		for range 3 { // quick crashes: 1s, 2s, 4s
			b.exit("w", 1, true)
			time.Sleep(5 * time.Second)
			synctest.Wait()
		}
		time.Sleep(10 * time.Minute) // a long healthy run
		b.exit("w", 1, true)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := b.gaps("w")
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, time.Second}
		if !slices.Equal(got, want) {
			t.Errorf("gaps %v, want %v (reset after 10 min up)", got, want)
		}
		if s.CrashLoop("w") {
			t.Error("crash loop after 4 exits, one of them after 10 min")
		}
	})
}

func TestRestartPolicies(t *testing.T) {
	cases := []struct {
		policy  string
		code    int
		restart bool
	}{
		{spec.RestartAlways, 0, true},
		{spec.RestartAlways, 3, true},
		{"", 0, true}, // unlabelled: always
		{spec.RestartOnFailure, 0, false},
		{spec.RestartOnFailure, 137, true},
		{spec.RestartNever, 3, false},
		{spec.RestartNever, 0, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.policy, c.code), func(t *testing.T) {
			superviseFake(t, SupervisorConfig{}, func(b *fakeBackend) {
				b.add("w", c.policy)
			}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
				b.exit("w", c.code, true)
				time.Sleep(time.Minute) // several re-lists too
				synctest.Wait()
				if got := b.restartCount("w") > 0; got != c.restart {
					t.Errorf("restarted = %v, want %v", got, c.restart)
				}
				st, _ := s.Status("w")
				if st.Stopped == c.restart || len(st.LastExits) != 1 || st.LastExits[0] != c.code {
					t.Errorf("status %+v, want stopped=%v and one exit %d", st, !c.restart, c.code)
				}
			})
		})
	}
}

func TestRelistCatchesMissedExits(t *testing.T) {
	superviseFake(t, SupervisorConfig{}, func(b *fakeBackend) {
		b.add("down", spec.RestartAlways)
		b.exit("down", 3, false) // exited while the agent was down
		b.add("missed", spec.RestartAlways)
	}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
		time.Sleep(time.Second)
		synctest.Wait()
		if b.restartCount("down") != 1 {
			t.Error("a task that exited before the Supervisor started was not restarted 1 s after it started")
		}
		b.exit("missed", 3, false) // no event
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if b.restartCount("missed") != 0 {
			t.Fatal("restarted before any re-list")
		}
		time.Sleep(2 * time.Second) // re-list at 30 s, backoff 1 s
		synctest.Wait()
		if b.restartCount("missed") != 1 {
			t.Error("an exit without an event was not caught by the re-list")
		}
	})
}

func TestAgentStopsAndStaleEventsAreLeftAlone(t *testing.T) {
	superviseFake(t, SupervisorConfig{}, func(b *fakeBackend) {
		b.add("stopping", spec.RestartAlways)
		b.add("stale", spec.RestartAlways)
		b.add("removed", spec.RestartAlways)
	}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
		b.mu.Lock()
		b.ctrs["stopping"].v.ignore = true
		b.mu.Unlock()
		b.exit("stopping", 143, true)
		// An exit event of an older task: the container runs a new one.
		b.evs <- exitEvent{container: "stale", pid: 99, code: 1, at: time.Now()}
		// Removed by the agent during the backoff.
		b.exit("removed", 1, true)
		synctest.Wait()
		s.forget("removed")
		b.mu.Lock()
		delete(b.ctrs, "removed")
		b.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, id := range []string{"stopping", "stale"} {
			if b.restartCount(id) != 0 {
				t.Errorf("%s restarted", id)
			}
			if _, ok := s.Status(id); ok {
				t.Errorf("%s tracked", id)
			}
		}
		if _, ok := s.Status("removed"); ok {
			t.Error("removed container still tracked")
		}
	})
}

func TestBackoffResumesFromLabels(t *testing.T) {
	superviseFake(t, SupervisorConfig{}, func(b *fakeBackend) {
		b.add("w", spec.RestartAlways)
		now := time.Now()
		b.ctrs["w"].v.restarts = 3
		b.ctrs["w"].v.exits = []exitRecord{{3, now.Add(-time.Hour)}, {3, now.Add(-5 * time.Minute)}, {3, now.Add(-20 * time.Second)}, {3, now.Add(-10 * time.Second)}, {3, now.Add(-5 * time.Second)}}
	}, func(t *testing.T, s *Supervisor, b *fakeBackend) {
		b.exit("w", 3, true)
		time.Sleep(time.Minute)
		synctest.Wait()
		// Four exits within 10 min from an earlier agent: this is the 5th
		// quick one.
		if got := b.gaps("w"); len(got) != 1 || got[0] != 16*time.Second {
			t.Errorf("gaps %v, want [16s]", got)
		}
		st, _ := s.Status("w")
		if st.Restarts != 4 || len(st.LastExits) != 6 || !st.CrashLoop {
			t.Errorf("status %+v, want 4 restarts, 6 exits, a crash loop (5 within 10 min)", st)
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 100: 5 * time.Minute} {
		if got := backoff(time.Second, 5*time.Minute, n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestExitsLabelRoundTrip(t *testing.T) {
	in := []exitRecord{{3, time.UnixMilli(1700000000123)}, {-1, time.UnixMilli(1700000001000)}}
	got := parseExits(formatExits(in))
	if len(got) != 2 || got[0].code != 3 || !got[0].at.Equal(in[0].at) || got[1].code != -1 {
		t.Errorf("round trip %v → %q → %v", in, formatExits(in), got)
	}
	if got := parseExits("x,3@1,@"); len(got) != 1 {
		t.Errorf("parseExits skips garbage: %v", got)
	}
}
