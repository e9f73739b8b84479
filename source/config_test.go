package source_test

import (
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/source"
)

// The adapters satisfy the reconciler's interfaces without importing it.
var (
	_ reconciler.Source   = (*source.Git)(nil)
	_ reconciler.Reporter = (*source.StatusWriter)(nil)
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:tok3n@example.com/fleet.git", "https://example.com/fleet.git"},
		{"https://ghp_abcdefgh@example.com:8443/fleet.git", "https://example.com:8443/fleet.git"},
		{"ssh://git:pw@example.com:2222/srv/fleet.git", "ssh://git@example.com:2222/srv/fleet.git"},
		{"git@example.com:org/fleet.git", "ssh://git@example.com/org/fleet.git"},
		{"file:///srv/fleet.git", "file:///srv/fleet.git"},
		{"git://example.com/fleet.git", "git://example.com/fleet.git"},
	}
	for _, tt := range tests {
		if got := source.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := source.Config{URL: "https://fleetd:tok3n@example.com/fleet.git", Dir: "/tmp/x"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://example.com/fleet.git" || c.Auth.Username != "fleetd" || c.Auth.Password != "tok3n" {
		t.Errorf("credentials not moved out of the URL: %+v", c)
	}
	if c.Branch != "main" || c.PollTimeout == 0 || c.FetchTimeout == 0 {
		t.Errorf("defaults not filled in: %+v", c)
	}
	bad := source.Config{URL: "ftp://user:tok3n@example.com/x", Branch: "refs/heads/main"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"dir is required", "invalid branch", "unsupported url scheme"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "tok3n") {
		t.Errorf("error %q shows the password", err)
	}
	s := source.StatusConfig{URL: "file:///srv/fleet.git", Node: "../x", Dir: "/tmp/y"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "invalid node name") {
		t.Errorf("StatusConfig.Validate(node ../x) = %v", err)
	}
}
