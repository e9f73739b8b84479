package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitfleet/gitfleet/bench/fleetsim"
	"github.com/gitfleet/gitfleet/internal/nginxtest"
	"github.com/gitfleet/gitfleet/source"
)

// Poll paths: how many polls one server answers and what each costs.
const (
	pollStatusRefs  = 10000           // other nodes' status refs in the repo polled
	pollConcurrency = 4               // clients polling at once (as `ab -c 4`)
	pollRun         = 2 * time.Second // one throughput run
	pollInterval    = 30 * time.Second
)

// pollPath is one way of asking for the head.
type pollPath struct {
	name string
	// client makes one poller against the server at base (no trailing
	// slash); each poll returns the head.
	client func(base string) (poll func(context.Context) (string, error), err error)
}

// pollPaths measures, on one nginx with fcgiwrap and git http-backend (the
// standard smart-HTTP setup) serving the fleet repo with 10,000 status
// refs and a static head file: bytes on the wire per poll (a counting
// proxy) and polls per second with 4 clients at once, plus the server's
// CPU time per poll (nginx, fcgiwrap and the git processes they run).
func pollPaths(ctx context.Context, e *env) (string, error) {
	dir := filepath.Join(e.tmp, "pollpaths")
	repos, heads := filepath.Join(dir, "git"), filepath.Join(dir, "heads")
	bare := filepath.Join(repos, "fleet.git")
	if out, err := gitCmd("", "clone", "-q", "--bare", e.bare, bare).CombinedOutput(); err != nil {
		return "", fmt.Errorf("git clone: %v: %s", err, out)
	}
	var in strings.Builder
	for i := 1; i <= pollStatusRefs; i++ {
		fmt.Fprintf(&in, "create refs/heads/status/node-%05d %s\n", i, e.head)
	}
	cmd := gitCmd(bare, "update-ref", "--stdin")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git update-ref: %v: %s", err, out)
	}
	if out, err := gitCmd(bare, "pack-refs", "--all").CombinedOutput(); err != nil {
		return "", fmt.Errorf("git pack-refs: %v: %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(heads, "fleet"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(heads, "fleet", "main"), []byte(e.head+"\n"), 0o644); err != nil {
		return "", err
	}
	srv, err := nginxtest.Start(nginxtest.Config{Root: heads, GitRoot: repos, Workers: 2, FcgiWorkers: 4})
	if err != nil {
		return "", err
	}
	cpu, err := fleetsim.NewCPUGroup(fmt.Sprintf("gitfleet-bench-%d", os.Getpid()), srv.PIDs())
	defer func() {
		srv.Stop()
		cpu.Close()
	}()
	if err != nil {
		return "", err
	}
	prx, err := newProxy(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		return "", err
	}
	defer prx.Close()

	paths := []pollPath{
		{"v0 ref advertisement (`GET info/refs`, what fleetd sent before protocol v2)", v0Poller(e.head)},
		{"v2 `ls-refs` for the branch (`source.Git.Head`)", gitPoller(e, "v2")},
		{"static head, 304 (`source.HeadURL.Head`, keep-alive)", headURLPoller(e)},
		{"static head, 304, a new connection each poll", newConnPoller(e.head)},
	}
	var b strings.Builder
	b.WriteString("## Poll paths\n\n")
	fmt.Fprintf(&b, "One poll that finds nothing new, four ways, against one nginx 1.22 (2 workers) on this machine: git's smart HTTP through fcgiwrap (4 processes) and `git http-backend`, the fleet repo holding %d status refs besides `main`; and a static file with the head's id (`Cache-Control: no-cache`, nginx's `ETag`). Bytes are both directions on the wire, HTTP headers included (a counting proxy, median of %d polls). Polls per second: %d clients polling at once for %s, keep-alive unless said, median of %d runs; the clients run on the same 2 cores as the server, so read the figures as ratios. Server CPU is nginx's, fcgiwrap's and the git processes' user+system time over those runs, per poll.\n\n",
		pollStatusRefs, e.n, pollConcurrency, pollRun, e.n)
	b.WriteString("| poll | bytes per poll | polls per second | server CPU per poll | nodes one server core carries at a 30 s interval |\n|---|---|---|---|---|\n")
	var projection strings.Builder
	projection.WriteString("\n| poll | server cores for 10,000 nodes | for 100,000 nodes | bandwidth for 100,000 nodes |\n|---|---|---|---|\n")
	for _, p := range paths {
		bytes, err := pollBytes(ctx, e, p, "http://"+prx.Addr(), prx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.name, err)
		}
		rate, perPoll, err := pollRate(ctx, e, p, srv, cpu)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(&b, "| %s | %d B | %.0f | %s | %.0f |\n", p.name, bytes, rate, usec(perPoll), float64(pollInterval)/float64(perPoll))
		perSecond := func(nodes float64) float64 { return nodes / pollInterval.Seconds() }
		fmt.Fprintf(&projection, "| %s | %.2f | %.2f | %s/s |\n", p.name,
			perSecond(1e4)*perPoll.Seconds(), perSecond(1e5)*perPoll.Seconds(), byteRate(perSecond(1e5)*float64(bytes)))
	}
	fmt.Fprintf(&b, "\nProjected from the server CPU and bytes per poll above, every node polling every 30 s and nothing changing (the v0 figures hold %d status refs; with one per node they grow with the fleet):\n", pollStatusRefs)
	b.WriteString(projection.String())
	b.WriteString("\nThe last column is the poll interval divided by the server CPU per poll: what the server process alone would carry, without the load generator beside it. With a static head, a git poll remains for each node whose head URL changed (one per push) and one per `maxStale` as a cross-check ([docs/scale.md](../docs/scale.md)).\n")
	return b.String(), nil
}

// pollBytes is the median of n polls' bytes through the proxy, after one
// poll that sets up what a running agent has (a connection, validators).
func pollBytes(ctx context.Context, e *env, p pollPath, base string, prx *proxy) (int64, error) {
	poll, err := p.client(base)
	if err != nil {
		return 0, err
	}
	if _, err := poll(ctx); err != nil {
		return 0, err
	}
	settle()
	prx.Take()
	var bytes []int64
	for range e.n {
		head, err := poll(ctx)
		if err != nil {
			return 0, err
		}
		if head != e.head {
			return 0, fmt.Errorf("head %s, want %s", head, e.head)
		}
		settle()
		bytes = append(bytes, prx.Take())
	}
	return median(bytes), nil
}

// pollRate runs pollConcurrency clients against the server for pollRun,
// n times, and returns the median polls per second and the server's CPU
// time per poll over all runs.
func pollRate(ctx context.Context, e *env, p pollPath, srv *nginxtest.Server, cpu *fleetsim.CPUGroup) (float64, time.Duration, error) {
	polls := make([]func(context.Context) (string, error), pollConcurrency)
	for i := range polls {
		var err error
		if polls[i], err = p.client(srv.URL); err != nil {
			return 0, 0, err
		}
		if _, err := polls[i](ctx); err != nil {
			return 0, 0, err
		}
	}
	cpu0, err := cpu.Usage()
	if err != nil {
		return 0, 0, err
	}
	var rates []float64
	var total int64
	for range e.n {
		var done atomic.Int64
		var failed atomic.Value
		runCtx, cancel := context.WithTimeout(ctx, pollRun)
		start := time.Now()
		var wg sync.WaitGroup
		for _, poll := range polls {
			wg.Go(func() {
				for runCtx.Err() == nil {
					head, err := poll(runCtx)
					if runCtx.Err() != nil {
						return
					}
					if err == nil && head != e.head {
						err = fmt.Errorf("head %s, want %s", head, e.head)
					}
					if err != nil {
						failed.Store(err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		cancel()
		if err, ok := failed.Load().(error); ok {
			return 0, 0, err
		}
		rates = append(rates, float64(done.Load())/elapsed.Seconds())
		total += done.Load()
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("no poll completed")
	}
	cpu1, err := cpu.Usage()
	if err != nil {
		return 0, 0, err
	}
	return median(rates), (cpu1 - cpu0) / time.Duration(total), nil
}

// v0Poller asks for the ref advertisement as a client without protocol v2
// does, and finds main in it.
func v0Poller(want string) func(string) (func(context.Context) (string, error), error) {
	return func(base string) (func(context.Context) (string, error), error) {
		c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		return func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/git/fleet.git/info/refs?service=git-upload-pack", nil)
			if err != nil {
				return "", err
			}
			res, err := c.Do(req)
			if err != nil {
				return "", err
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				return "", err
			}
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want+" refs/heads/main") {
				return "", fmt.Errorf("advertisement: %s without main", res.Status)
			}
			return want, nil
		}, nil
	}
}

// gitPoller is source.Git.Head, checking the protocol it used.
func gitPoller(e *env, protocol string) func(string) (func(context.Context) (string, error), error) {
	return func(base string) (func(context.Context) (string, error), error) {
		loc, err := source.ParseLocation(base+"/git/fleet.git", source.Auth{})
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(e.tmp, "pollpaths-state-")
		if err != nil {
			return nil, err
		}
		g, err := source.New(source.Config{Location: loc, Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (string, error) {
			head, err := g.Head(ctx)
			if err == nil && g.Protocol() != protocol {
				err = fmt.Errorf("protocol %s, want %s", g.Protocol(), protocol)
			}
			return head, err
		}, nil
	}
}

// headURLPoller is source.HeadURL.Head with the head confirmed by git
// once, as in a running agent: later polls are conditional GETs.
func headURLPoller(e *env) func(string) (func(context.Context) (string, error), error) {
	return func(base string) (func(context.Context) (string, error), error) {
		loc, err := source.ParseLocation(base+"/git/fleet.git", source.Auth{})
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(e.tmp, "pollpaths-state-")
		if err != nil {
			return nil, err
		}
		g, err := source.New(source.Config{Location: loc, Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		h, err := source.NewHeadURL(g, source.HeadURLConfig{URL: base + "/fleet/main", MaxStale: time.Hour}, nil)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (string, error) {
			head, err := h.Head(ctx)
			if err == nil && h.PollStatus().Via != "head-url" {
				err = fmt.Errorf("poll went via %s: %s", h.PollStatus().Via, h.PollStatus().Message)
			}
			return head, err
		}, nil
	}
}

// newConnPoller is a conditional GET of the head file on a new connection
// each time, as from many clients that each poll once.
func newConnPoller(want string) func(string) (func(context.Context) (string, error), error) {
	return func(base string) (func(context.Context) (string, error), error) {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = true
		c := &http.Client{Transport: t}
		var etag string
		return func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/fleet/main", nil)
			if err != nil {
				return "", err
			}
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			res, err := c.Do(req)
			if err != nil {
				return "", err
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			switch res.StatusCode {
			case http.StatusOK:
				if strings.TrimSpace(string(body)) != want {
					return "", fmt.Errorf("head file holds %q", body)
				}
				etag = res.Header.Get("ETag")
			case http.StatusNotModified:
			default:
				return "", fmt.Errorf("head file: %s", res.Status)
			}
			return want, nil
		}, nil
	}
}

func byteRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.1f GB", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.1f MB", bps/1e6)
	}
	return fmt.Sprintf("%.0f KB", bps/1e3)
}

func usec(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
