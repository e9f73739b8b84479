package spec

import (
	"testing"
	"time"
)

// Naming the default stop settings keeps a workload's hash (its container
// is not replaced); other settings change it.
func TestStopSettingsInTheHash(t *testing.T) {
	base := WorkloadSpec{Image: "r.example/app@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"}
	defaults := base
	defaults.StopSignal, defaults.StopTimeout = DefaultStopSignal, &Duration{DefaultStopTimeout}
	if HashSpec(defaults) != HashSpec(base) {
		t.Error("naming SIGTERM and 10s changed the hash")
	}
	quit := base
	quit.StopSignal = "SIGQUIT"
	long := base
	long.StopTimeout = &Duration{time.Minute}
	if HashSpec(quit) == HashSpec(base) || HashSpec(long) == HashSpec(base) || HashSpec(quit) == HashSpec(long) {
		t.Error("another stop signal or timeout kept the hash")
	}
}
