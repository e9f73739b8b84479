package gittest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
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

// HTTPBackend is Debian's git smart-HTTP CGI program.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// ServeDaemon serves every repository under bareParent read-only with git
// daemon on a free loopback port and returns its git:// base URL (append
// "/<repo>.git").
func ServeDaemon(t testing.TB, bareParent string) string {
	t.Helper()
	port := porttest.Port(t)
	cmd := exec.Command(daemonPath(t), "--export-all", "--reuseaddr",
		"--base-path="+bareParent, "--listen=127.0.0.1", "--port="+strconv.Itoa(port),
		bareParent)
	startServer(t, cmd, port, "")
	return fmt.Sprintf("git://127.0.0.1:%d", port)
}

// ServeHTTP serves every repository under bareParent with git http-backend
// (upload-pack and receive-pack) in an httptest server and returns its base
// URL (append "/<repo>.git"). A non-empty user requires that user and pass
// by basic auth.
func ServeHTTP(t testing.TB, bareParent, user, pass string) string {
	t.Helper()
	return ServeHTTPWith(t, bareParent, HTTPOptions{User: user, Pass: pass})
}

// HTTPOptions tune ServeHTTPWith.
type HTTPOptions struct {
	// User and Pass, when User is set, are required by basic auth.
	User, Pass string
	// ProtocolV0 drops the Git-Protocol request header before git sees it:
	// the server then speaks protocol v0 only, like a git older than 2.18
	// or one behind a proxy that does not pass the header on.
	ProtocolV0 bool
	// Requests, when set, records every request the server answers.
	Requests *RequestLog
}

// ServeHTTPWith is ServeHTTP with options.
func ServeHTTPWith(t testing.TB, bareParent string, o HTTPOptions) string {
	t.Helper()
	if _, err := os.Stat(HTTPBackend); err != nil {
		t.Fatalf("git http-backend: %v", err)
	}
	backend := &cgi.Handler{
		Path: HTTPBackend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + bareParent,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
		InheritEnv: []string{"PATH"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.Requests.add(r)
		if o.User != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != o.User || p != o.Pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if o.ProtocolV0 {
			r.Header.Del("Git-Protocol")
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// ServeSSH runs Debian's sshd on a free loopback port with its own host
// key and configuration, accepting one freshly generated client key for
// root. It returns the ssh:// URL of bareParent (append "/<repo>.git"), the
// client's private key file and a known_hosts file for the server.
// extraConfig lines are added to sshd_config, e.g. "AcceptEnv GIT_PROTOCOL"
// (without it the server speaks git protocol v0 only).
func ServeSSH(t testing.TB, bareParent string, extraConfig ...string) (url, keyFile, knownHostsFile string) {
	t.Helper()
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_ed25519")
	keyFile = filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, keyFile} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gittest", "-f", k).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	clientPub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, clientPub, 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	port := porttest.Port(t)
	fields := strings.Fields(string(hostPub))
	knownHostsFile = filepath.Join(dir, "known_hosts")
	kh := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])
	if err := os.WriteFile(knownHostsFile, []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "sshd_config")
	conf := strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorized,
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowUsers root",
		"LogLevel ERROR",
	}, "\n") + "\n" + strings.Join(append(extraConfig, ""), "\n")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", config)
	startServer(t, cmd, port, "SSH-")
	abs, err := filepath.Abs(bareParent)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("ssh://root@127.0.0.1:%d%s", port, filepath.ToSlash(abs)), keyFile, knownHostsFile
}

// daemonPath finds git-daemon in git's exec path; running it directly,
// not through "git daemon", leaves one process to stop.
func daemonPath(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-daemon")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("git daemon: %v", err)
	}
	return p
}

// startServer starts cmd, waits until port accepts connections (and, if
// banner is set, until the server greets with it) and stops the server at
// cleanup. It fails the test if the server does not come up in 10 s.
func startServer(t testing.TB, cmd *exec.Cmd, port int, banner string) {
	t.Helper()
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// A process group, so that cleanup stops the server's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// A bound for a hung server only: a loaded machine may take long.
	const limit = 2 * time.Minute
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s\n%s", cmd.Path, cmd.ProcessState, logs.String())
		default:
		}
		if ready(addr, banner) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections on %s in %s\n%s", cmd.Path, addr, limit, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(addr, banner string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if banner == "" {
		return true
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, banner)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
