package ocitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
)

// DockerRegistryBinary is where Debian's docker-registry package installs
// CNCF distribution 2.8.
const DockerRegistryBinary = "/usr/bin/docker-registry"

const dockerRegistryConfig = `version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: gitfleet-ocitest
`

// StartDockerRegistry starts Debian's docker-registry (distribution 2.8)
// with filesystem storage under t.TempDir(), plain HTTP on a free loopback
// port and no auth, waits until /v2/ answers and returns its host
// ("127.0.0.1:PORT"). It stops the process at cleanup. Distribution 2.8
// has no referrers API, so clients must use the tag-schema fallback.
func StartDockerRegistry(t testing.TB) (host string) {
	t.Helper()
	host, stop, err := StartDockerRegistryProcess(t.TempDir())
	if err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(stop)
	return host
}

// StartDockerRegistryProcess is StartDockerRegistry for programs that are
// not tests, such as the demo. It writes config.yml, registry.log and the
// storage directory data/ under dir, starts the process and waits until
// /v2/ answers. stop ends the process (SIGTERM, then SIGKILL after 5 s) and
// may be called more than once; dir is left in place.
func StartDockerRegistryProcess(dir string) (host string, stop func(), err error) {
	if _, err := os.Stat(DockerRegistryBinary); err != nil {
		return "", nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	// The port is reserved (porttest) and was free, but a process outside
	// the tests may still take it before the registry binds it: try a few.
	for attempt := 0; ; attempt++ {
		host, stop, err = startDockerRegistry(dir, "")
		if err == nil || attempt == 2 || !errors.Is(err, errAddrInUse) {
			return host, stop, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func startDockerRegistry(dir, htpasswd string) (host string, stop func(), err error) {
	port, release, err := porttest.Reserve()
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	text := fmt.Appendf(nil, dockerRegistryConfig, data, addr)
	if htpasswd != "" {
		text = fmt.Appendf(text, "auth:\n  htpasswd:\n    realm: gitfleet-ocitest\n    path: %s\n", htpasswd)
	}
	if err := os.WriteFile(cfg, text, 0o644); err != nil {
		return "", nil, err
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(DockerRegistryBinary, "serve", cfg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", DockerRegistryBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop = sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		release()
	})

	if err := waitForV2(addr, htpasswd != "", exited, 2*time.Minute); err != nil {
		stop()
		logText, _ := os.ReadFile(logPath)
		if bytes.Contains(logText, []byte("address already in use")) {
			err = errAddrInUse
		}
		return "", nil, fmt.Errorf("docker-registry on %s: %w; log:\n%s", addr, err, tail(logText, 2000))
	}
	return addr, stop, nil
}

// waitForV2 polls http://addr/v2/ until it answers 200 (401 when auth is
// on), the process exits or the timeout passes.
func waitForV2(addr string, auth bool, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || auth && resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited before /v2/ answered")
		case <-ctx.Done():
			return fmt.Errorf("/v2/ did not answer within %v: %w", timeout, last)
		case <-tick.C:
		}
	}
}

func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
