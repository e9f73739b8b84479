package reconciler

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/gitfleet/gitfleet/fault"
)

// Run repeats passes until ctx ends. After a transient failure it retries
// with exponential backoff, from MinBackoff up to the poll interval, each
// wait drawn from the upper half of the backoff (equal jitter), so that
// the nodes one server failure hit at once (a 502 in a change's burst) do
// not come back at once; a
// refused revision is not retried (the next poll sees whether the ref
// moved); a held revision is asked again at the next poll, or sooner when
// the gate says when it may open. Every wait is jittered so a fleet's nodes do not poll in step.
// A receive from Config.Wake ends a wait at once: the next pass starts now
// (a USB stick arrived, say). Run returns nil when ctx ends; it leaves
// every workload running.
func (r *Reconciler) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		err := r.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.interval()
		switch {
		case err == nil, fault.ClassOf(err) == fault.Refused:
			backoff = 0
		case fault.ClassOf(err) == fault.Held:
			backoff = 0
			if after := fault.RetryAfter(err); after > 0 && after < wait {
				wait = after
			}
		default:
			backoff = nextBackoff(backoff, r.cfg.MinBackoff, wait)
			wait = halfJitter(backoff)
		}
		t := time.NewTimer(jitter(wait, r.cfg.Jitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.cfg.Wake:
			t.Stop()
		}
	}
}

// nextBackoff doubles prev within [min, max].
func nextBackoff(prev, min, max time.Duration) time.Duration {
	next := prev * 2
	if next < min {
		next = min
	}
	if next > max {
		next = max
	}
	return next
}

// halfJitter is a random duration in [d/2, d].
func halfJitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// jitter scales d by a random factor in [1-j, 1+j].
func jitter(d time.Duration, j float64) time.Duration {
	return time.Duration(float64(d) * (1 - j + 2*j*rand.Float64()))
}
