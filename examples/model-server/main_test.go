package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's log and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func noEnv(string) string { return "" }

// start runs the server in the background and returns its base URL and a
// channel with run's result.
func start(t *testing.T, ctx context.Context, args ...string) (string, <-chan error, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	args = append([]string{"--listen", "127.0.0.1:0", "--weights", "weights/defect-v1.json"}, args...)
	go func() {
		done <- run(ctx, args, &logs, noEnv, func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case a := <-addrc:
		return "http://" + a, done, &logs
	case err := <-done:
		t.Fatalf("run: %v; log:\n%s", err, logs.String())
	case <-time.After(time.Minute):
		t.Fatal("server did not start")
	}
	return "", nil, nil
}

func healthz(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, done, logs := start(t, ctx)
	eventually(t, "healthy", func() bool { return healthz(t, url) == http.StatusOK })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no shutdown")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("log lacks shutdown line:\n%s", logs.String())
	}
}

func TestRunStartDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, _, _ := start(t, ctx, "--start-delay", "1h")
	if got := healthz(t, url); got != http.StatusServiceUnavailable {
		t.Fatalf("healthz during start delay = %d, want 503", got)
	}
	url, _, _ = start(t, ctx, "--start-delay", "100ms")
	eventually(t, "healthy after the start delay", func() bool { return healthz(t, url) == http.StatusOK })
}

func TestRunReadyFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := filepath.Join(t.TempDir(), "ready")
	url, _, logs := start(t, ctx, "--ready-file", ready)
	eventually(t, "the server to look for the ready file", func() bool {
		return strings.Contains(logs.String(), "waiting for the ready file")
	})
	if got := healthz(t, url); got != http.StatusServiceUnavailable {
		t.Fatalf("healthz before the ready file exists = %d, want 503", got)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "healthy once the ready file exists", func() bool { return healthz(t, url) == http.StatusOK })
}

func TestRunFailHealth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, _, _ := start(t, ctx, "--fail-health")
	if got := healthz(t, url); got != http.StatusServiceUnavailable {
		t.Errorf("healthz with --fail-health = %d, want 503", got)
	}
}

// eventually polls cond until it holds; it fails after a minute, a bound
// for a hung server, not a performance target.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCrashAfter(t *testing.T) {
	_, done, _ := start(t, context.Background(), "--crash-after", "100ms")
	select {
	case err := <-done:
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 3 {
			t.Fatalf("run = %v, want exit status 3", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("did not crash")
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"bad flag", []string{"--nope"}, nil, 2, "not defined"},
		{"extra arg", []string{"x"}, nil, 2, "unexpected arguments"},
		{"negative delay", []string{"--start-delay", "-1s"}, nil, 2, "negative"},
		{"bad log level", nil, map[string]string{"MODEL_LOG_LEVEL": "loud"}, 2, "MODEL_LOG_LEVEL"},
		{"missing weights", []string{"--weights", "weights/nope.json"}, nil, 1, "load model"},
		{"bad weights", []string{"--weights", "README.md"}, nil, 1, "load model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--weights", "weights/defect-v1.json"}, tt.args...)
			err := run(context.Background(), args, io.Discard, func(k string) string { return tt.env[k] }, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want error containing %q", err, tt.wantErr)
			}
			code := 1
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d", code, tt.wantCode)
			}
		})
	}
}

func TestRunDebugLogging(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrc := make(chan string, 1)
	go run(ctx, []string{"--listen", "127.0.0.1:0", "--weights", "weights/defect-v1.json"}, &logs,
		func(k string) string { return map[string]string{"MODEL_LOG_LEVEL": "debug"}[k] },
		func(a net.Addr) { addrc <- a.String() })
	url := "http://" + <-addrc
	healthz(t, url)
	if !strings.Contains(logs.String(), "path=/healthz") {
		t.Errorf("debug log lacks the request line:\n%s", logs.String())
	}
}
