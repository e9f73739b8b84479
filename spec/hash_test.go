package spec_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

const (
	digestA = "sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"
	digestB = "sha256:5b5d1601a7be7adf51fe8401689d32d4e9cc3b725f330738f6d4da356df28708"
)

func baseSpec() spec.WorkloadSpec {
	return spec.WorkloadSpec{
		Image:     "r.example/app@" + digestA,
		Args:      []string{"--listen", ":8080"},
		Env:       map[string]string{"A": "1", "B": "2", "C": "3"},
		Ports:     []int{8080, 9090},
		Mounts:    []spec.Mount{{Source: "/data", Target: "/data", ReadOnly: true}},
		Resources: spec.Resources{Memory: "1Gi", CPU: "0.5"},
		Health:    &spec.Health{HTTP: &spec.HTTPProbe{Port: 8080, Path: "/healthz"}},
		Restart:   spec.RestartAlways,
	}
}

func TestHashSpec(t *testing.T) {
	base := spec.HashSpec(baseSpec())
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(base) {
		t.Fatalf("HashSpec = %q, want sha256:<64 hex>", base)
	}
	for _, tt := range []struct {
		name   string
		change func(*spec.WorkloadSpec)
		same   bool
	}{
		{"nothing", func(*spec.WorkloadSpec) {}, true},
		{"env built in another order", func(s *spec.WorkloadSpec) {
			s.Env = map[string]string{}
			for _, k := range []string{"C", "A", "B"} {
				s.Env[k] = map[string]string{"A": "1", "B": "2", "C": "3"}[k]
			}
		}, true},
		{"ports in another order", func(s *spec.WorkloadSpec) { s.Ports = []int{9090, 8080} }, true},
		{"memory spelled 1024Mi", func(s *spec.WorkloadSpec) { s.Resources.Memory = "1024Mi" }, true},
		{"cpu spelled 500m", func(s *spec.WorkloadSpec) { s.Resources.CPU = "500m" }, true},
		{"defaults written out", func(s *spec.WorkloadSpec) {
			s.Health.Period = spec.Duration{Duration: 10 * time.Second}
			s.Health.Timeout = spec.Duration{Duration: 2 * time.Second}
			s.Health.FailureThreshold = 3
		}, true},
		{"restart left to its default", func(s *spec.WorkloadSpec) { s.Restart = "" }, true},
		{"update lock: not the container's business", func(s *spec.WorkloadSpec) {
			s.UpdateLock = &spec.UpdateLock{Path: "/data/app.lock", MaxDeferral: spec.Duration{Duration: time.Hour}}
		}, true},
		{"no args", func(s *spec.WorkloadSpec) { s.Args = nil }, false},
		{"image digest", func(s *spec.WorkloadSpec) { s.Image = "r.example/app@" + digestB }, false},
		{"image tag", func(s *spec.WorkloadSpec) { s.Image = "r.example/app:v2@" + digestA }, false},
		{"arg", func(s *spec.WorkloadSpec) { s.Args[1] = ":8081" }, false},
		{"arg order", func(s *spec.WorkloadSpec) { s.Args = []string{":8080", "--listen"} }, false},
		{"env value", func(s *spec.WorkloadSpec) { s.Env["A"] = "2" }, false},
		{"env value emptied", func(s *spec.WorkloadSpec) { s.Env["A"] = "" }, false},
		{"env key", func(s *spec.WorkloadSpec) { s.Env["D"] = "4" }, false},
		{"port", func(s *spec.WorkloadSpec) { s.Ports = []int{8080} }, false},
		{"mount read-write", func(s *spec.WorkloadSpec) { s.Mounts[0].ReadOnly = false }, false},
		{"memory", func(s *spec.WorkloadSpec) { s.Resources.Memory = "2Gi" }, false},
		{"cpu", func(s *spec.WorkloadSpec) { s.Resources.CPU = "1" }, false},
		{"gpus", func(s *spec.WorkloadSpec) { s.Resources.GPUs = 1 }, false},
		{"health path", func(s *spec.WorkloadSpec) { s.Health.HTTP.Path = "/ready" }, false},
		{"health period", func(s *spec.WorkloadSpec) { s.Health.Period = spec.Duration{Duration: time.Minute} }, false},
		{"no health", func(s *spec.WorkloadSpec) { s.Health = nil }, false},
		{"restart", func(s *spec.WorkloadSpec) { s.Restart = spec.RestartNever }, false},
		{"network written out as its default", func(s *spec.WorkloadSpec) { s.Network = spec.NetworkIsolated }, true},
		{"network none", func(s *spec.WorkloadSpec) { s.Network = spec.NetworkNone }, false},
		{"network host", func(s *spec.WorkloadSpec) { s.Network = spec.NetworkHost }, false},
		{"user", func(s *spec.WorkloadSpec) { s.User = "1000:1000" }, false},
		{"read-only root", func(s *spec.WorkloadSpec) { s.ReadOnlyRootFilesystem = true }, false},
		{"capability added", func(s *spec.WorkloadSpec) { s.Capabilities.Add = []string{"NET_RAW"} }, false},
		{"capability dropped", func(s *spec.WorkloadSpec) { s.Capabilities.Drop = []string{"CHOWN"} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.change(&s)
			got := spec.HashSpec(s)
			if same := got == base; same != tt.same {
				t.Errorf("hash equal to the base: %t, want %t", same, tt.same)
			}
			if again := spec.HashSpec(s); again != got {
				t.Errorf("HashSpec not stable: %s then %s", got, again)
			}
		})
	}
}

func TestHashSpecCapabilityOrder(t *testing.T) {
	a, b := baseSpec(), baseSpec()
	a.Capabilities = spec.Capabilities{Add: []string{"NET_RAW", "SYS_NICE"}, Drop: []string{"ALL"}}
	b.Capabilities = spec.Capabilities{Add: []string{"SYS_NICE", "NET_RAW"}, Drop: []string{"ALL"}}
	if spec.HashSpec(a) != spec.HashSpec(b) {
		t.Error("capabilities named in another order hash differently")
	}
	b.Capabilities.Add, b.Capabilities.Drop = b.Capabilities.Drop, b.Capabilities.Add
	if spec.HashSpec(a) == spec.HashSpec(b) {
		t.Error("added and dropped capabilities swapped hash alike")
	}
}

// TestHashSpecDoesNotMutate checks that HashSpec leaves its argument alone.
func TestHashSpecDoesNotMutate(t *testing.T) {
	s := baseSpec()
	s.Ports = []int{9090, 8080}
	s.Restart = ""
	spec.HashSpec(s)
	if s.Ports[0] != 9090 || s.Restart != "" || s.Health.Period.Duration != 0 {
		t.Errorf("HashSpec changed its argument: %+v", s)
	}
}

// TestHashSpecPinned pins the hash of one spec: a change in the canonical
// form would replace every container of every fleet on upgrade. (The
// sandbox's default network changed it once, on purpose: an agent that
// gains the sandbox replaces the containers that run without it.)
func TestHashSpecPinned(t *testing.T) {
	const want = "sha256:ca2b37312a3824205f90dc8b1a03463c93849ae041785279ef2a81abd47c6e14"
	if got := spec.HashSpec(baseSpec()); got != want {
		t.Errorf("HashSpec(baseSpec()) = %s, want %s", got, want)
	}
}
