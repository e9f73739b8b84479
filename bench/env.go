package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

const (
	fixtureWorkloads = 5
	fixtureGroups    = 3
	httpBackend      = "/usr/lib/git-core/git-http-backend"
)

// env is what the sections share: a generated fleet repo served over HTTP
// behind a counting proxy.
type env struct {
	n     int
	nodes int
	tmp   string
	bare  string // the fleet repo
	head  string // its main commit
	url   string // through the proxy
	proxy *proxy
	srv   *httptest.Server
}

func newEnv(n, nodes int) (*env, error) {
	tmp, err := os.MkdirTemp("", "gitfleet-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{n: n, nodes: nodes, tmp: tmp, bare: filepath.Join(tmp, "srv", "fleet.git")}
	if err := e.generate(); err != nil {
		e.Close()
		return nil, err
	}
	e.srv = httptest.NewServer(&cgi.Handler{
		Path:       httpBackend,
		Env:        []string{"GIT_PROJECT_ROOT=" + filepath.Dir(e.bare), "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
		InheritEnv: []string{"PATH"},
	})
	e.proxy, err = newProxy(strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.url = "http://" + e.proxy.Addr() + "/fleet.git"
	return e, nil
}

func (e *env) Close() {
	if e.proxy != nil {
		e.proxy.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	os.RemoveAll(e.tmp)
}

// generate builds the fleet repo with git fast-import.
func (e *env) generate() error {
	if out, err := gitCmd("", "init", "-q", "--bare", "-b", "main", e.bare).CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %v: %s", err, out)
	}
	cmd := gitCmd(e.bare, "fast-import", "--quiet")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriter(in)
	file := func(path, content string) {
		fmt.Fprintf(w, "M 644 inline %s\ndata %d\n%s\n", path, len(content), content)
	}
	msg := "generated fleet"
	fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@gitfleet.invalid> 1700000000 +0000\ndata %d\n%s\n", len(msg), msg)
	file("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: bench}\nspec:\n  pollInterval: 30s\n  hostPaths: [/var/lib/models]\n")
	for i := range fixtureWorkloads {
		file(fmt.Sprintf("workloads/model-%d.yaml", i), fmt.Sprintf(
			"apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: model-%d}\nspec:\n  image: registry.example.com/models/m%d@sha256:%064d\n  ports: [%d]\n  resources: {memory: 256Mi, cpu: \"0.5\"}\n",
			i, i, i, 8080+i))
	}
	for i := range fixtureGroups {
		file(fmt.Sprintf("groups/line-%c.yaml", 'a'+i), fmt.Sprintf(
			"apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-%c}\nspec:\n  selector: {matchLabels: {line: %c}}\n  workloads: [model-%d]\n",
			'a'+i, 'a'+i, i))
	}
	for i := 1; i <= e.nodes; i++ {
		file(fmt.Sprintf("nodes/node-%05d.yaml", i), fmt.Sprintf(
			"apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%05d\n  labels: {site: plant-%d, line: %c}\n",
			i, i%7, 'a'+i%fixtureGroups))
	}
	w.WriteString("done\n")
	if err := w.Flush(); err != nil {
		return err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %v: %s", err, stderr.String())
	}
	out, err := gitCmd(e.bare, "rev-parse", "refs/heads/main").Output()
	if err != nil {
		return fmt.Errorf("git rev-parse: %v", err)
	}
	e.head = strings.TrimSpace(string(out))
	return nil
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@gitfleet.invalid", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@gitfleet.invalid")
	return cmd
}

// proxy forwards TCP connections to a backend and counts the bytes both ways.
type proxy struct {
	l       net.Listener
	backend string
	bytes   atomic.Int64
}

func newProxy(backend string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, backend: backend}
	go p.serve()
	return p, nil
}

func (p *proxy) Addr() string { return p.l.Addr().String() }
func (p *proxy) Close()       { p.l.Close() }

// Take returns the bytes counted since the last Take.
func (p *proxy) Take() int64 { return p.bytes.Swap(0) }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(countingWriter{dst, &p.bytes}, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}

// countingWriter counts as it writes, so that bytes on a kept-alive
// connection are counted before it closes.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// settle gives the proxy a moment to count a connection's last bytes.
func settle() { time.Sleep(20 * time.Millisecond) }

// machine describes the host for the results.
func machine() string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	gitVersion := "unknown"
	if out, err := exec.Command("git", "--version").Output(); err == nil {
		gitVersion = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("| machine | |\n|---|---|\n| CPU | %s |\n| cores | %d |\n| memory | %s |\n| kernel | %s |\n| Go | %s %s/%s |\n| git | %s |\n",
		cpu, runtime.NumCPU(), mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, gitVersion)
}

// median of durations or numbers.
func median[T int64 | uint64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
