package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/spec"
)

// logRotateInterval is how often the workloads' log files are checked
// against their size cap.
const logRotateInterval = 30 * time.Second

// rotateLogs caps the workloads' log files until ctx ends.
func rotateLogs(ctx context.Context, rt *runtime.Containerd, log *slog.Logger) {
	t := time.NewTicker(logRotateInterval)
	defer t.Stop()
	for {
		if err := rt.RotateLogs(); err != nil {
			log.Warn("rotate workload logs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// size is a quantity such as "10Mi" in bytes; 0 (the default) when empty.
// complete has checked it.
func size(q string) int64 {
	if q == "" {
		return 0
	}
	n, _ := spec.ParseMemory(q)
	return n
}
