package main

import (
	"bytes"
	"github.com/spf13/pflag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args ...string) (*Config, *options, error) {
	t.Helper()
	fs := pflag.NewFlagSet("fleetd", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return loadConfig(fs, args)
}

func TestConfigFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fleetd.yaml")
	if err := os.WriteFile(file, []byte(`repo: https://git.example.com/fleet.git
node: press-01
labels: {site: plant-1}
interval: 45s
stateDir: /var/lib/gitfleet-test
auth: {username: fleetd}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, opt, err := load(t, "--config", file, "--labels", "line=a,site=plant-2", "--interval", "10s",
		"--poll-url", "https://heads.example.com/plant-1/main", "--poll-max-stale", "5m",
		"--once", "--allow-revision", strings.Repeat("a", 40), "--verify-mode", "all")
	if err != nil {
		t.Fatal(err)
	}
	if !opt.once {
		t.Error("--once not set")
	}
	if cfg.Repo != "https://git.example.com/fleet.git" || cfg.Node != "press-01" || cfg.Auth.Username != "fleetd" {
		t.Errorf("file values lost: %+v", cfg)
	}
	if want := map[string]string{"line": "a", "site": "plant-2"}; !reflect.DeepEqual(cfg.Labels, want) {
		t.Errorf("labels = %v, want the flag's %v", cfg.Labels, want)
	}
	if cfg.PollURL != "https://heads.example.com/plant-1/main" || cfg.PollMaxStale.Duration != 5*time.Minute {
		t.Errorf("poll url, max stale = %q, %s", cfg.PollURL, cfg.PollMaxStale.Duration)
	}
	if cfg.Interval.Duration != 10*time.Second {
		t.Errorf("interval = %s, want the flag's 10s", cfg.Interval.Duration)
	}
	if cfg.StateDir != "/var/lib/gitfleet-test" || cfg.Branch != "main" || cfg.Namespace != "gitfleet" ||
		cfg.TrustDir != defaultTrustDir || cfg.Heartbeat.Duration != time.Hour || cfg.VerifyMode != "all" ||
		len(cfg.AllowRevisions) != 1 {
		t.Errorf("defaults or overrides wrong: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("repo: x\nrepos: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--repo is required"},
		{[]string{"--repo", "file:///x", "--labels", "novalue"}, `"novalue" is not k=v`},
		{[]string{"--repo", "file:///x", "--interval", "soon"}, "--interval"},
		{[]string{"--config", file}, "bad.yaml:2: repos: unknown field (did you mean repo?)"},
		{[]string{"--repo", "file:///x", "extra"}, `unexpected argument "extra"`},
		{[]string{"--repo", "file:///x", "--disk-reserve", "lots"}, "disk reserve"},
		{[]string{"--repo", "file:///x", "--poll-url", "ftp://heads.example.com/main"}, "--poll-url: must be an http or https URL"},
		{[]string{"--repo", "file:///x", "--poll-url", "https://tok@heads.example.com/main"}, "--poll-url: must not carry credentials"},
		{[]string{"--repo", "file:///x", "--poll-max-stale", "-1m"}, "must not be negative"},
	} {
		_, _, err := load(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("load(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestUsageExitsCleanly(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, io.Discard); code != 0 {
		t.Errorf("--help exit code = %d", code)
	}
	for _, want := range []string{"fleetd keeps this node's model containers", "--insecure-skip-verify", "--allow-revision", "default /var/lib/gitfleet"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	var errOut bytes.Buffer
	if code := run([]string{"--bogus"}, io.Discard, &errOut); code != 2 {
		t.Errorf("bad flag exit code = %d, want 2", code)
	}
	// The mistake once, then a one-line hint, not the whole usage.
	if got := errOut.String(); strings.Count(got, "bogus") != 1 || !strings.Contains(got, "Run 'fleetd --help' for usage.") ||
		strings.Count(got, "\n") != 2 {
		t.Errorf("bad flag printed %q, want the error once and a usage hint", got)
	}
	if code := run([]string{"-repo", "file:///x"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("single-dash long flag exit code = %d, want 2 (flags take two dashes)", code)
	}
}

// TestConfigFileErrorsNameLineAndField: a typo in the config file is
// reported with its line and the field, with a suggestion, together with
// every other mistake in the file.
func TestConfigFileErrorsNameLineAndField(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fleetd.yaml")
	if err := os.WriteFile(file, []byte("repo: file:///srv/fleet.git\nlogLevl: debug\ninterval: soon\nauth:\n  usrname: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	if code := run([]string{"--config", file}, io.Discard, &errOut); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	for _, want := range []string{
		"fleetd.yaml:2: logLevl: unknown field (did you mean logLevel?)",
		"fleetd.yaml:3: interval: invalid duration \"soon\"",
		"fleetd.yaml:5: auth.usrname: unknown field",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("error output %q does not contain %q", errOut.String(), want)
		}
	}
}

// TestVersion: --version needs no other flag (no --repo) and prints one
// line naming the program and the Go toolchain it was built with.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, io.Discard); code != 0 {
		t.Fatalf("--version exit code = %d", code)
	}
	line := out.String()
	if !strings.HasPrefix(line, "fleetd ") || !strings.Contains(line, goruntime.Version()) || strings.Count(line, "\n") != 1 {
		t.Errorf("--version printed %q, want one line \"fleetd <version> (… %s …)\"", line, goruntime.Version())
	}
}

// TestPrintAgeRecipient: the node's recipient needs no repo; the identity
// is made once, in the state dir, and printed the same on every call.
func TestPrintAgeRecipient(t *testing.T) {
	state := t.TempDir()
	var first, second bytes.Buffer
	if code := run([]string{"--print-age-recipient", "--state-dir", state}, &first, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if code := run([]string{"--print-age-recipient", "--state-dir", state}, &second, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(first.String(), "age1") || first.String() != second.String() {
		t.Errorf("printed %q then %q, want the same age1… twice", first.String(), second.String())
	}
	fi, err := os.Stat(filepath.Join(state, "age.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v %v, want mode 0600 in the state dir", fi, err)
	}
}
