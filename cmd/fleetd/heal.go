package main

import (
	"context"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/spec"
)

// healthChecker adapts health.Monitor to reconciler.HealthChecker.
type healthChecker struct{ m *health.Monitor }

func (h healthChecker) Watch(desired []spec.Desired) { h.m.Set(desired) }

func (h healthChecker) Wait(ctx context.Context, name, hash string) (bool, error) {
	return h.m.Wait(ctx, name, hash)
}

func (h healthChecker) Health(name string) (string, string) {
	v, ok := h.m.Get(name)
	if !ok {
		return "", ""
	}
	return string(v.State), v.Message
}

var _ reconciler.HealthChecker = healthChecker{}
