package runtime

import (
	"net/http"
	"testing"

	"github.com/containerd/containerd/remotes/docker"

	"github.com/gitfleet/gitfleet/spec"
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

func TestRegistryHosts(t *testing.T) {
	regs := []spec.Registry{
		{Host: "registry.example.com", Mirrors: []string{"mirror.local:5000", "http://10.0.0.1:5000/cache"}},
		{Host: "mirror.local:5000", PlainHTTP: true},
		{Host: "127.0.0.1:5000", PlainHTTP: true},
	}
	hosts := registryHosts(regs, http.DefaultClient)
	type h struct{ scheme, host, path string }
	for _, tc := range []struct {
		host string
		want []h
	}{
		{"registry.example.com", []h{{"http", "mirror.local:5000", "/v2"}, {"http", "10.0.0.1:5000", "/cache"}, {"https", "registry.example.com", "/v2"}}},
		{"127.0.0.1:5000", []h{{"http", "127.0.0.1:5000", "/v2"}}},
		{"docker.io", []h{{"https", "registry-1.docker.io", "/v2"}}},
	} {
		got, err := hosts(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		var gh []h
		for _, g := range got {
			gh = append(gh, h{g.Scheme, g.Host, g.Path})
			if g.Capabilities != docker.HostCapabilityPull|docker.HostCapabilityResolve {
				t.Errorf("%s: %s capabilities %v", tc.host, g.Host, g.Capabilities)
			}
		}
		if len(gh) != len(tc.want) {
			t.Errorf("hosts(%s) = %v, want %v", tc.host, gh, tc.want)
			continue
		}
		for i := range gh {
			if gh[i] != tc.want[i] {
				t.Errorf("hosts(%s) = %v, want %v", tc.host, gh, tc.want)
				break
			}
		}
	}
	if _, err := registryHosts([]spec.Registry{{Host: "x", Mirrors: []string{"ftp://y"}}}, http.DefaultClient)("x"); err == nil {
		t.Error("ftp mirror accepted")
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
