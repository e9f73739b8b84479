// Package nginxtest runs a private Debian nginx on a free loopback port,
// with its own configuration and prefix in a temporary directory: static
// files (a published head commit id) and, optionally, git's smart HTTP
// through fcgiwrap and git http-backend, the standard production setup.
// Tests use StartT, which fails (never skips) when nginx cannot start;
// bench uses Start.
package nginxtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
)

// Binaries, from Debian's nginx, fcgiwrap and git packages.
const (
	Nginx       = "/usr/sbin/nginx"
	Fcgiwrap    = "/usr/sbin/fcgiwrap"
	HTTPBackend = "/usr/lib/git-core/git-http-backend"
)

// Config says what the server serves.
type Config struct {
	// Root is served at / as static files, with Cache-Control: no-cache
	// (clients revalidate: If-None-Match and If-Modified-Since get 304).
	Root string
	// GitRoot, when set, is served at /git/ by git http-backend through
	// fcgiwrap: every repository under it, upload-pack and receive-pack.
	GitRoot string
	// Workers is nginx's worker_processes (default 1); FcgiWorkers the
	// fcgiwrap processes (default 2).
	Workers, FcgiWorkers int
	// Backlog, when set, is the listen backlog of fcgiwrap's socket (the
	// kernel caps it at net.core.somaxconn): the socket is made here and
	// handed to fcgiwrap as a socket unit hands it (Debian's
	// fcgiwrap.socket under systemd gets SOMAXCONN, 4096). Unset,
	// fcgiwrap makes its own with a backlog of 511, and a burst of more
	// requests than that waiting for its processes gets nginx's 502.
	Backlog int
}

// Server is a running nginx (and fcgiwrap).
type Server struct {
	// URL is http://127.0.0.1:<port>, without a trailing slash.
	URL  string
	dir  string
	cmds []*exec.Cmd
	done []chan struct{}
	// release gives the port back (porttest.Reserve).
	release func()
}

// StartT starts a server that stops at the end of the test.
func StartT(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts nginx (and fcgiwrap when cfg.GitRoot is set) and waits
// until it accepts connections.
func Start(cfg Config) (*Server, error) {
	for _, bin := range []string{Nginx, Fcgiwrap, HTTPBackend} {
		if bin == Fcgiwrap && cfg.GitRoot == "" {
			continue
		}
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("nginxtest: %w (apt-get install nginx fcgiwrap git)", err)
		}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.FcgiWorkers <= 0 {
		cfg.FcgiWorkers = 2
	}
	dir, err := os.MkdirTemp("", "nginxtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	port, release, err := porttest.Reserve()
	s.release = release
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	sock := filepath.Join(dir, "fcgiwrap.sock")
	if cfg.GitRoot != "" {
		if err := s.startFcgiwrap(cfg, sock); err != nil {
			s.Stop()
			return nil, err
		}
		if err := waitFor(func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
			s.Stop()
			return nil, fmt.Errorf("fcgiwrap: %w\n%s", err, s.logs())
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(config(cfg, dir, port, sock)), 0o600); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.start(exec.Command(Nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))); err != nil {
		s.Stop()
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitFor(func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("nginx: %w\n%s", err, s.logs())
	}
	return s, nil
}

func config(cfg Config, dir string, port int, sock string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `user root;
daemon off;
worker_processes %d;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	default_type text/plain;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:%d;
		location / {
			root %s;
			add_header Cache-Control "no-cache";
		}
`, cfg.Workers, dir, port, cfg.Root)
	if cfg.GitRoot != "" {
		fmt.Fprintf(&b, `		location ~ ^/git(/.*)$ {
			client_max_body_size 0;
			fastcgi_pass unix:%s;
			fastcgi_param SCRIPT_FILENAME %s;
			fastcgi_param GIT_PROJECT_ROOT %s;
			fastcgi_param GIT_HTTP_EXPORT_ALL "";
			fastcgi_param GIT_CONFIG_NOSYSTEM 1;
			fastcgi_param GIT_CONFIG_COUNT 1;
			fastcgi_param GIT_CONFIG_KEY_0 http.receivepack;
			fastcgi_param GIT_CONFIG_VALUE_0 true;
			fastcgi_param PATH_INFO $1;
			fastcgi_param QUERY_STRING $query_string;
			fastcgi_param REQUEST_METHOD $request_method;
			fastcgi_param CONTENT_TYPE $content_type;
			fastcgi_param CONTENT_LENGTH $content_length;
			fastcgi_param REMOTE_ADDR $remote_addr;
			fastcgi_param SERVER_PROTOCOL $server_protocol;
			fastcgi_param GATEWAY_INTERFACE CGI/1.1;
		}
`, sock, HTTPBackend, cfg.GitRoot)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// startFcgiwrap starts fcgiwrap on the unix socket sock.
func (s *Server) startFcgiwrap(cfg Config, sock string) error {
	cmd := exec.Command(Fcgiwrap, "-c", strconv.Itoa(cfg.FcgiWorkers))
	if cfg.Backlog <= 0 {
		cmd.Args = append(cmd.Args, "-s", "unix:"+sock)
		return s.start(cmd)
	}
	// fcgiwrap without -s serves the listening socket on its stdin.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fcgiwrap socket: %w", err)
	}
	ln := os.NewFile(uintptr(fd), sock)
	defer ln.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		return fmt.Errorf("fcgiwrap socket: %w", err)
	}
	if err := syscall.Listen(fd, cfg.Backlog); err != nil {
		return fmt.Errorf("fcgiwrap socket: %w", err)
	}
	cmd.Stdin = ln
	return s.start(cmd)
}

// start runs cmd in its own process group, its output to the server's log.
func (s *Server) start(cmd *exec.Cmd) error {
	f, err := os.OpenFile(filepath.Join(s.dir, "output.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmds, s.done = append(s.cmds, cmd), append(s.done, done)
	return nil
}

// Stop kills the servers and removes their directory. It may be called
// more than once.
func (s *Server) Stop() {
	for i := len(s.cmds) - 1; i >= 0; i-- {
		syscall.Kill(-s.cmds[i].Process.Pid, syscall.SIGKILL)
		<-s.done[i]
	}
	s.cmds, s.done = nil, nil
	os.RemoveAll(s.dir)
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// PIDs returns the server processes (nginx master and workers, fcgiwrap
// and its children), for measuring their CPU time.
func (s *Server) PIDs() []int {
	var pids []int
	for _, c := range s.cmds {
		out, err := exec.Command("pgrep", "-g", strconv.Itoa(c.Process.Pid)).Output()
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func (s *Server) logs() string {
	var b strings.Builder
	for _, name := range []string{"output.log", "error.log"} {
		if data, err := os.ReadFile(filepath.Join(s.dir, name)); err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// waitFor polls ok for up to 10 s: a server coming up.
func waitFor(ok func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
