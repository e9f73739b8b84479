package source_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// The adapters satisfy the reconciler's interfaces without importing it.
var (
	_ reconciler.Source       = (*source.Git)(nil)
	_ reconciler.Reporter     = (*source.StatusWriter)(nil)
	_ reconciler.ReportReader = (*source.StatusWriter)(nil)
)

// loc parses s with auth (at most one), failing the test on error.
func loc(t testing.TB, s string, auth ...source.Auth) source.Location {
	t.Helper()
	var a source.Auth
	if len(auth) > 0 {
		a = auth[0]
	}
	l, err := source.ParseLocation(s, a)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseLocation(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want, dir string }{
		{"https://user:tok3n@example.com/fleet.git", "https://example.com/fleet.git", ""},
		{"https://ghp_abcdefgh@example.com:8443/fleet.git", "https://example.com:8443/fleet.git", ""},
		{"http://127.0.0.1:8080/fleet.git", "http://127.0.0.1:8080/fleet.git", ""},
		{"ssh://git:pw@example.com:2222/srv/fleet.git", "ssh://git@example.com:2222/srv/fleet.git", ""},
		{"git@example.com:org/fleet.git", "git@example.com:org/fleet.git", ""},
		{"git://example.com/fleet.git", "git://example.com/fleet.git", ""},
		{"file:///srv/fleet.git", "file:///srv/fleet.git", "/srv/fleet.git"},
		{"file:///srv/with%20space/fleet.git", "file:///srv/with%20space/fleet.git", "/srv/with space/fleet.git"},
		// A USB stick's repository is a path like any other.
		{"/media/x/gitfleet/fleet.git", "file:///media/x/gitfleet/fleet.git", "/media/x/gitfleet/fleet.git"},
		{"/media/USB:1/gitfleet/fleet.git/", "file:///media/USB:1/gitfleet/fleet.git", "/media/USB:1/gitfleet/fleet.git"},
		{"fleet", "file://" + filepath.Join(wd, "fleet"), filepath.Join(wd, "fleet")},
		{"./a:b", "file://" + filepath.Join(wd, "a:b"), filepath.Join(wd, "a:b")},
	}
	for _, tt := range tests {
		l, err := source.ParseLocation(tt.in, source.Auth{})
		if err != nil {
			t.Errorf("ParseLocation(%q): %v", tt.in, err)
			continue
		}
		if got := l.String(); got != tt.want {
			t.Errorf("ParseLocation(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		if got := l.Dir(); got != tt.dir {
			t.Errorf("ParseLocation(%q).Dir() = %q, want %q", tt.in, got, tt.dir)
		}
	}
	for _, bad := range []string{"", "ftp://user:tok3n@example.com/x", "file://host/srv/x", "file://user:tok3n@localhost/x"} {
		l, err := source.ParseLocation(bad, source.Auth{})
		if err == nil {
			t.Errorf("ParseLocation(%q) = %s, want an error", bad, l)
			continue
		}
		if strings.Contains(err.Error(), "tok3n") {
			t.Errorf("ParseLocation(%q): error %q shows the password", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := source.Config{Location: loc(t, "https://fleetd:tok3n@example.com/fleet.git"), Dir: "/tmp/x"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Branch != "main" || c.PollTimeout == 0 || c.FetchTimeout == 0 {
		t.Errorf("defaults not filled in: %+v", c)
	}
	bad := source.Config{Branch: "refs/heads/main"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"dir is required", "invalid branch", "location is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	s := source.StatusConfig{Location: loc(t, "file:///srv/fleet.git"), Node: "../x", Dir: "/tmp/y"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "invalid node name") {
		t.Errorf("StatusConfig.Validate(node ../x) = %v", err)
	}
}

// TestStickPath: a bare repository at a plain path (a USB stick's
// gitfleet/fleet.git) serves the agent, its status reports and Open
// through the same code as a URL.
func TestStickPath(t *testing.T) {
	ctx := context.Background()
	r, head := fleetRepo(t)
	stick := filepath.Join(t.TempDir(), "media", "USB:1", "gitfleet", "fleet.git")
	gittest.Git(t, "", "clone", "-q", "--bare", r.BareDir, stick)
	l := loc(t, stick)
	if l.Dir() != stick {
		t.Fatalf("Dir() = %q, want %q", l.Dir(), stick)
	}

	g := newGit(t, source.Config{Location: l})
	if got, err := g.Head(ctx); err != nil || got != head {
		t.Fatalf("Head = %s, %v; want %s", got, err, head)
	}
	fsys, err := g.Tree(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fsys, "nodes/press-01.yaml"); !strings.Contains(got, "press-01") {
		t.Errorf("nodes/press-01.yaml = %q", got)
	}

	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	w := newWriter(t, source.StatusConfig{Location: l}, "press-01", clk)
	if err := w.Report(ctx, report("press-01", head, status.StateRunning, clk.Now())); err != nil {
		t.Fatal(err)
	}
	written := strings.TrimSpace(gittest.Git(t, stick, "rev-parse", "refs/heads/status/press-01"))
	reps, err := source.ReadReports(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if rep := reps["press-01"]; rep.Commit != written || rep.Status == nil || rep.Status.Status.AppliedRevision != head {
		t.Errorf("report read back from the stick = %+v, want commit %s applying %s", rep, written, head)
	}

	repo, err := source.Open(ctx, l, source.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Branch("main"); err != nil || got != head {
		t.Errorf("Open(stick).Branch(main) = %s, %v; want %s", got, err, head)
	}
}
