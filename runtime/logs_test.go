package runtime

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/secret"
	"github.com/gitfleet/gitfleet/spec"
)

// TestLogsRotateAndTail: a real workload's log past its cap is rotated
// (copied to .1, truncated), the shim goes on appending at the start of
// the truncated file, and LogTail reads across both files with the value
// of the workload's secret replaced by its name.
func TestLogsRotateAndTail(t *testing.T) {
	e := setup(t)
	e.pull(t)
	node, _, err := secret.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "age.key"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(t.Context(), Config{Address: e.d.Address, LogDir: e.logDir, RunDir: e.runDir, StopTimeout: 5 * time.Second,
		Secrets: node, SecretDir: tmpfs(t), LogMaxBytes: 64, LogMaxFiles: 2, LogTailBytes: 4096},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	token := "tok-" + filepath.Base(t.TempDir())
	enc, err := secret.Encrypt([]byte(token), []string{node.Recipient()}, false)
	if err != nil {
		t.Fatal(err)
	}
	d := desired("chatty", porttest.Port(t), nil)
	d.Spec.Secrets = []spec.Secret{{Name: "token", File: "secrets/token.age", Env: "API_TOKEN", Data: enc}}
	d.Hash = spec.HashSpec(d.Spec)
	if err := c.Run(t.Context(), d, "rev1"); err != nil {
		t.Fatal(err)
	}
	logFile := c.Logs(d.Name)
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	// The echo workload prints its environment when it starts.
	waitFor(t, "the workload's start in its log", func() bool { return strings.Contains(read(logFile), "API_TOKEN=") })

	if err := c.RotateLogs(); err != nil {
		t.Fatal(err)
	}
	if got := read(logFile + ".1"); !strings.Contains(got, "echo starting") || !strings.Contains(got, "API_TOKEN="+token) {
		t.Errorf("rotated file holds %q, want the log so far", got)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Size() > 64 {
		t.Errorf("log after rotation: %v, %v; want truncated", fi, err)
	}

	// Stopping the workload makes it print again: at the start of the
	// truncated file, not after a hole where the old bytes were.
	if err := c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the workload's exit in its log", func() bool { return strings.Contains(read(logFile), "echo: terminated") })
	if got := read(logFile); strings.ContainsRune(got, 0) || !strings.HasPrefix(got, "echo: terminated") {
		t.Errorf("log after rotation = %q, want the new output from its start", got)
	}

	tail := c.LogTail(d)
	if strings.Contains(tail, token) {
		t.Fatalf("the log tail shows the secret's value:\n%s", tail)
	}
	for _, want := range []string{"API_TOKEN=[secret token]", "echo: terminated"} {
		if !strings.Contains(tail, want) {
			t.Errorf("log tail lacks %q:\n%s", want, tail)
		}
	}

	// A second rotation keeps at most LogMaxFiles files.
	os.WriteFile(logFile, []byte(strings.Repeat("x", 100)+"\n"), 0o640)
	if err := c.RotateLogs(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logFile, []byte(strings.Repeat("y", 100)+"\n"), 0o640)
	if err := c.RotateLogs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(logFile + ".3"); err == nil {
		t.Error("a third rotated file is kept, want at most 2")
	}
	if !strings.HasPrefix(read(logFile+".1"), "y") || !strings.HasPrefix(read(logFile+".2"), "x") {
		t.Errorf("rotated files out of order: .1 %q .2 %q", read(logFile+".1"), read(logFile+".2"))
	}
}

// TestLogTailWithoutIdentity: a workload whose secrets cannot be opened to
// redact them shows no log at all.
func TestLogTailWithoutIdentity(t *testing.T) {
	dir := t.TempDir()
	c := &Containerd{cfg: Config{LogDir: dir, LogTailBytes: 4096}}
	os.WriteFile(filepath.Join(dir, "w.log"), []byte("API_TOKEN=hunter2\n"), 0o640)
	d := spec.Desired{Name: "w", Spec: spec.WorkloadSpec{Secrets: []spec.Secret{{Name: "token", Env: "API_TOKEN", Data: []byte("x")}}}}
	if got := c.LogTail(d); strings.Contains(got, "hunter2") || got == "" {
		t.Errorf("LogTail = %q, want a note and no value", got)
	}
	d.Spec.Secrets = nil
	if got := c.LogTail(d); got != "API_TOKEN=hunter2" {
		t.Errorf("LogTail of a workload without secrets = %q", got)
	}
}
