package reconciler

import (
	"context"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"
)

// countingSource fails Head n times, recording when it was asked.
type countingSource struct {
	fakeSource
	fails int
	calls []time.Time
}

func (s *countingSource) Head(ctx context.Context) (string, error) {
	s.calls = append(s.calls, time.Now())
	if len(s.calls) <= s.fails {
		return "", netErr{}
	}
	return s.fakeSource.Head(ctx)
}

func TestRunBacksOffOnTransientErrorsThenPollsAtInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{fakeSource: fakeSource{trees: map[string]fstest.MapFS{}}, fails: 4}
		src.trees["rev1"] = tree(map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
		src.head = "rev1"
		r, err := New(Config{Node: "n", InsecureSkipVerify: true, Interval: 20 * time.Second, Jitter: 0.0001},
			Deps{Source: src, Runtime: newFakeRuntime(), Reporter: &fakeReporter{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		// 4 failures: waits in the upper half of 1, 2, 4, 8 s; then polls
		// every 20 s.
		want := []time.Duration{1, 2, 4, 8, 20, 20}
		if len(src.calls) < len(want)+1 {
			t.Fatalf("%d polls in a minute, want at least %d", len(src.calls), len(want)+1)
		}
		for i, w := range want {
			got := src.calls[i+1].Sub(src.calls[i])
			lo := w * time.Second
			if i < 4 {
				lo /= 2
			}
			if got < lo-10*time.Millisecond || got > w*time.Second+10*time.Millisecond {
				t.Errorf("wait %d = %s, want %s to %ds", i, got, lo, w)
			}
		}
	})
}

func TestRunDoesNotBackOffOnRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{fakeSource: fakeSource{head: "rev1", trees: map[string]fstest.MapFS{}}}
		r, err := New(Config{Node: "n", Interval: 10 * time.Second, Jitter: 0.0001},
			Deps{Source: src, Runtime: newFakeRuntime(), Reporter: &fakeReporter{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
		defer cancel()
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if len(src.calls) != 4 {
			t.Errorf("%d polls in 35 s at a 10 s interval, want 4", len(src.calls))
		}
	})
}

func TestJitterStaysInBounds(t *testing.T) {
	for range 1000 {
		if d := jitter(10*time.Second, 0.1); d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jitter(10s, 0.1) = %s", d)
		}
	}
	seen := map[bool]bool{}
	for range 1000 {
		d := halfJitter(8 * time.Second)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("halfJitter(8s) = %s", d)
		}
		seen[d < 6*time.Second] = true
	}
	if !seen[true] || !seen[false] {
		t.Errorf("halfJitter(8s) stayed on one side of 6s in 1000 draws")
	}
	if got := nextBackoff(0, time.Second, time.Minute); got != time.Second {
		t.Errorf("first backoff = %s", got)
	}
	if got := nextBackoff(40*time.Second, time.Second, time.Minute); got != time.Minute {
		t.Errorf("capped backoff = %s", got)
	}
}

func TestRunWakesForAPassAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{fakeSource: fakeSource{head: "rev1", trees: map[string]fstest.MapFS{}}}
		src.trees["rev1"] = tree(map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
		wake := make(chan struct{})
		r, err := New(Config{Node: "n", InsecureSkipVerify: true, Interval: time.Hour, Jitter: 0.0001, Wake: wake},
			Deps{Source: src, Runtime: newFakeRuntime(), Reporter: &fakeReporter{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(src.calls) != 1 {
			t.Fatalf("%d passes in the first minute of an hourly loop, want 1", len(src.calls))
		}
		wake <- struct{}{}
		synctest.Wait()
		if len(src.calls) != 2 || src.calls[1].Sub(src.calls[0]) != time.Minute {
			t.Fatalf("passes at %v, want the second one when woken, a minute after the first", src.calls)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}
