package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

// latencyInterval is fleetd's poll interval in the commit-to-running runs.
const latencyInterval = time.Second

// commitToRunning runs the real agent against a private containerd and
// measures, for a commit that changes a workload whose image is already
// pulled, the time from `git push` returning to the new container running
// and to its model answering /healthz. Beside it, `ctr run -d` of the same
// image on the same containerd: the cost of starting a container alone.
func commitToRunning(ctx context.Context, e *env) (string, error) {
	l, err := newLive(ctx, e, liveOptions{name: "live", workloads: 1, interval: latencyInterval})
	if err != nil {
		return "", err
	}
	defer l.close()

	var running, serving, ctrRun []time.Duration
	for i := range e.n {
		rev, pushed, err := l.commit(i+1, false)
		if err != nil {
			return "", err
		}
		t1, err := l.waitRevision(ctx, 0, rev, "")
		if err != nil {
			return "", err
		}
		if err := l.waitHealthy(ctx); err != nil {
			return "", err
		}
		running = append(running, t1.Sub(pushed))
		serving = append(serving, time.Since(pushed))

		d, err := l.ctrRun(ctx, i)
		if err != nil {
			return "", err
		}
		ctrRun = append(ctrRun, d)
	}

	var b strings.Builder
	b.WriteString("## Commit to running (image already pulled)\n\n")
	fmt.Fprintf(&b, "The real `fleetd` (poll interval %s, ±10%% jitter) against a private containerd %s with runc, over smart HTTP on loopback. Each run commits an env change to the workload (the container must be replaced: the old one is stopped with SIGTERM, the new one created and started) and pushes it; the clock starts when `git push` returns. `ctr run -d` of the same image on the same containerd is the reference cost of starting one container.\n\n", latencyInterval, l.containerdVersion)
	b.WriteString("| measure | median | worst |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| push → new container running (`fleetd`) | %s | %s |\n", ms(median(running)), ms(slicesMax(running)))
	fmt.Fprintf(&b, "| push → model answers `/healthz` | %s | %s |\n", ms(median(serving)), ms(slicesMax(serving)))
	fmt.Fprintf(&b, "| `ctr run -d` (start one container, reference) | %s | %s |\n", ms(median(ctrRun)), ms(slicesMax(ctrRun)))
	fmt.Fprintf(&b, "\nTarget: under the poll interval plus 2 s (%s).\n", ms(latencyInterval+2*time.Second))
	return b.String(), nil
}

// live is a small fleet repo, a registry, a containerd and a running fleetd.
type live struct {
	dir, work, bare   string
	opts              liveOptions
	image             string
	ports             []int
	logs              chan logLine
	ctd               *runtimetest.Daemon
	rt                *runtime.Containerd
	reg               *http.Server
	agent             *exec.Cmd
	containerdVersion string
}

// liveOptions shape a live setup: its name (dir and repo), how many
// workloads (model-0 …), whether they have HTTP health checks, and the
// agent's poll interval.
type liveOptions struct {
	name      string
	workloads int
	health    bool
	interval  time.Duration
}

// logLine is a line fleetd logged, with its own timestamp.
type logLine struct {
	at   time.Time
	text string
}

func newLive(ctx context.Context, e *env, opts liveOptions) (_ *live, err error) {
	l := &live{opts: opts, dir: filepath.Join(e.tmp, opts.name), bare: filepath.Join(filepath.Dir(e.bare), opts.name+".git"),
		logs: make(chan logLine, 64)}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	l.work = filepath.Join(l.dir, "work")
	if l.ctd, err = runtimetest.Start(runtimetest.Options{}); err != nil {
		return nil, err
	}
	out, _ := exec.Command("containerd", "--version").Output()
	if f := strings.Fields(string(out)); len(f) >= 3 {
		l.containerdVersion = f[2]
	}
	if l.rt, err = runtime.New(ctx, runtime.Config{Address: l.ctd.Address, LogDir: filepath.Join(l.dir, "logs"), RunDir: filepath.Join(l.dir, "state", "run")}, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.reg = &http.Server{Handler: ocitest.Handler()}
	go l.reg.Serve(ln)
	weights, err := os.ReadFile("examples/model-server/weights/defect-v1.json")
	if err != nil {
		return nil, err
	}
	img, err := imagebuild.Build(ctx, imagebuild.Options{Package: "./examples/model-server", Files: map[string][]byte{"/model/weights.json": weights}})
	if err != nil {
		return nil, err
	}
	if l.image, err = imagebuild.Push(ctx, img, ln.Addr().String()+"/models/bench"); err != nil {
		return nil, err
	}
	for range opts.workloads {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		l.ports = append(l.ports, port)
	}
	if err := l.initRepo(ln.Addr().String()); err != nil {
		return nil, err
	}
	// Built as `make release` builds it: static, stripped.
	fleetd := filepath.Join(l.dir, "fleetd")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", fleetd, "./cmd/fleetd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build fleetd: %v: %s", err, out)
	}
	url := strings.TrimSuffix(e.url, "fleet.git") + opts.name + ".git"
	l.agent = exec.Command(fleetd, "--repo", url, "--node", "bench-01", "--containerd-address", l.ctd.Address,
		"--state-dir", filepath.Join(l.dir, "state"), "--interval", opts.interval.String(), "--insecure-skip-verify", "--log-level", "warn")
	stderr, err := l.agent.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := l.agent.Start(); err != nil {
		return nil, err
	}
	go l.readLogs(stderr)
	// The first deploy pulls the image; the measured runs start after it.
	rev, _, err := l.commit(0, false)
	if err != nil {
		return nil, err
	}
	for i := range opts.workloads {
		if _, err := l.waitRevision(ctx, i, rev, ""); err != nil {
			return nil, err
		}
	}
	return l, l.waitHealthy(ctx)
}

// readLogs passes fleetd's warnings on, with the time fleetd stamped them.
func (l *live) readLogs(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			at = time.Now()
		}
		select {
		case l.logs <- logLine{at: at, text: line}:
		default: // nobody is waiting for this one
		}
	}
}

func (l *live) initRepo(registryHost string) error {
	if err := os.MkdirAll(filepath.Join(l.work, "groups"), 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"fleet.yaml":      fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: bench}\nspec:\n  registries: [{host: %q, plainHTTP: true}]\n", registryHost),
		"groups/all.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: all}\nspec:\n  selector: {}\n  workloads: [" + strings.Join(l.names(), ", ") + "]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(l.work, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-C", filepath.Dir(l.bare), "init", "-q", "--bare", "-b", "main", l.bare},
		{"-C", l.bare, "config", "http.receivepack", "true"},
		{"remote", "add", "origin", l.bare},
	} {
		if out, err := gitCmd(l.work, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	return nil
}

// names are the workloads' names.
func (l *live) names() []string {
	var out []string
	for i := range l.opts.workloads {
		out = append(out, fmt.Sprintf("model-%d", i))
	}
	return out
}

// commit sets model-0's env to run i (and makes it fail its health check
// when broken), pushes, and returns the new revision and when the push
// returned. The other workloads stay as they are.
func (l *live) commit(i int, broken bool) (string, time.Time, error) {
	if err := os.MkdirAll(filepath.Join(l.work, "workloads"), 0o755); err != nil {
		return "", time.Time{}, err
	}
	for w, name := range l.names() {
		run, fail := 0, ""
		if w == 0 {
			run = i
			if broken {
				fail = `, "--fail-health"`
			}
		}
		health := ""
		if l.opts.health {
			health = fmt.Sprintf("  health: {http: {port: %d, path: /healthz}, period: 10s, timeout: 2s, failureThreshold: 3}\n", l.ports[w])
		}
		y := fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: %s}\nspec:\n  image: %s\n  args: [\"--listen\", \":%d\"%s]\n  env: {RUN: %q}\n  ports: [%d]\n%s",
			name, l.image, l.ports[w], fail, strconv.Itoa(run), l.ports[w], health)
		if err := os.WriteFile(filepath.Join(l.work, "workloads", name+".yaml"), []byte(y), 0o644); err != nil {
			return "", time.Time{}, err
		}
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", fmt.Sprintf("run %d", i)}, {"push", "-q", "origin", "main"}} {
		if out, err := gitCmd(l.work, args...).CombinedOutput(); err != nil {
			return "", time.Time{}, fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	pushed := time.Now()
	out, err := gitCmd(l.work, "rev-parse", "HEAD").Output()
	return strings.TrimSpace(string(out)), pushed, err
}

// waitRevision waits until workload w runs at rev (and, if hash is set,
// with that spec hash) and returns when it saw it.
func (l *live) waitRevision(ctx context.Context, w int, rev, hash string) (time.Time, error) {
	name := fmt.Sprintf("model-%d", w)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		list, err := l.rt.List(ctx)
		if err != nil {
			return time.Time{}, err
		}
		for _, in := range list {
			if in.Workload == name && (rev == "" || in.Revision == rev) && (hash == "" || in.SpecHash == hash) && in.State == status.StateRunning {
				return time.Now(), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s not running at %s after a minute", name, rev)
}

// waitHealthy waits until every workload answers /healthz.
func (l *live) waitHealthy(ctx context.Context) error {
	for _, port := range l.ports {
		if err := waitHealthz(port); err != nil {
			return err
		}
	}
	return nil
}

func waitHealthz(port int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering", url)
}

// ctrRun starts the same image with ctr on the same containerd, in its own
// namespace, and removes it again.
func (l *live) ctrRun(ctx context.Context, i int) (time.Duration, error) {
	ctr := func(args ...string) error {
		all := append([]string{"--address", l.ctd.Address, "--namespace", "gitfleet"}, args...)
		if out, err := exec.CommandContext(ctx, "ctr", all...).CombinedOutput(); err != nil {
			return fmt.Errorf("ctr %v: %v: %s", args, err, out)
		}
		return nil
	}
	id := fmt.Sprintf("ctr-ref-%d", i)
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = ctr("run", "-d", "--net-host", l.image, id, "/model-server", "--weights", "/model/weights.json", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if err := ctr("task", "kill", "-s", "SIGKILL", id); err != nil {
		return 0, err
	}
	time.Sleep(200 * time.Millisecond)
	ctr("task", "delete", id)
	return d, ctr("container", "delete", id)
}

func (l *live) close() {
	if l.agent != nil && l.agent.Process != nil {
		l.agent.Process.Signal(syscall.SIGTERM)
		l.agent.Wait()
	}
	if l.rt != nil {
		for _, name := range l.names() {
			l.rt.Remove(context.Background(), name)
		}
		l.rt.Close()
	}
	if l.ctd != nil {
		l.ctd.Stop()
	}
	if l.reg != nil {
		l.reg.Close()
	}
}

// procFields reads "Name: value kB" lines of a /proc file.
func procFields(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func slicesMax(xs []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
