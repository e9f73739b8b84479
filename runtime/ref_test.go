package runtime

import (
	"testing"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestPinned(t *testing.T) {
	for _, tc := range []struct {
		ref, want string
		ok        bool
	}{
		{"registry.example.com/models/detector@sha256:" + hex64, "registry.example.com/models/detector@sha256:" + hex64, true},
		{"127.0.0.1:5000/m@sha256:" + hex64, "127.0.0.1:5000/m@sha256:" + hex64, true},
		{"busybox@sha256:" + hex64, "docker.io/library/busybox@sha256:" + hex64, true},
		{"registry.example.com/m:v1@sha256:" + hex64, "registry.example.com/m@sha256:" + hex64, true},
		{"registry.example.com/m:v1", "", false},
		{"registry.example.com/m", "", false},
		{"registry.example.com/m@sha256:abc", "", false},
		{"registry.example.com/m@sha512:" + hex64 + hex64, "", false},
		{"", "", false},
	} {
		got, _, err := pinned(tc.ref)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("pinned(%q) = %q, %v; want %q, ok %v", tc.ref, got, err, tc.want, tc.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	if err := c.Validate(); err == nil {
		t.Error("Config without LogDir is valid")
	}
	c = Config{LogDir: "/tmp/x"}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if c.Address != DefaultAddress || c.Namespace != DefaultNamespace || c.Snapshotter != DefaultSnapshotter || c.Runtime != DefaultRuntime || c.StopTimeout != DefaultStopTimeout {
		t.Errorf("defaults: %+v", c)
	}
}
