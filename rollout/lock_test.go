package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

func TestDeferred(t *testing.T) {
	lock := spec.UpdateLock{Path: "/var/lib/models/detector.lock", MaxDeferral: spec.Duration{Duration: 2 * time.Hour}}
	tests := []struct {
		name         string
		exists       bool
		pendingSince time.Time
		want         bool
		reason       string
	}{
		{"no lock file", false, t0.Add(-time.Hour), false, ""},
		{"just pending", true, time.Time{}, true, "update deferred by lock /var/lib/models/detector.lock for 0s so far, at most 2h more (maxDeferral 2h)"},
		{"pending 30m", true, t0.Add(-30 * time.Minute), true, "for 30m so far, at most 1h30m more"},
		{"at maxDeferral", true, t0.Add(-2 * time.Hour), false, "update lock /var/lib/models/detector.lock held for 2h, the maxDeferral: updating anyway"},
		{"past maxDeferral", true, t0.Add(-3 * time.Hour), false, "held for 3h"},
		{"clock went back", true, t0.Add(time.Hour), true, "for 0s so far"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := rollout.Deferred(lock, tt.exists, tt.pendingSince, t0)
			if got != tt.want || !strings.Contains(reason, tt.reason) || (tt.reason == "") != (reason == "") {
				t.Errorf("Deferred = %t, %q; want %t, %q", got, reason, tt.want, tt.reason)
			}
		})
	}
	if got, _ := rollout.Deferred(spec.UpdateLock{}, true, t0, t0); got {
		t.Error("Deferred with no lock configured = true")
	}
}
