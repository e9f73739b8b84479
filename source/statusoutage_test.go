package source_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// switchProxy forwards TCP connections to a server until down, when its
// port refuses connections, and again after up.
type switchProxy struct {
	t       *testing.T
	backend string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
}

func newSwitchProxy(t *testing.T, backend string) *switchProxy {
	p := &switchProxy{t: t, backend: backend}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *switchProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

func (p *switchProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *switchProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// Against a real git server: an outage of the registry makes one commit
// when it starts, none while its errors change text and count, and one
// when it ends; an outage of the git server itself is said by the first
// commit once the server is back.
func TestStatusCommitsFollowOutages(t *testing.T) {
	r, _ := fleetRepo(t)
	srv := strings.TrimPrefix(gittest.ServeHTTP(t, r.BareParent, "", ""), "http://")
	p := newSwitchProxy(t, srv)
	cfg := source.StatusConfig{Location: loc(t, "http://"+p.addr+"/"+r.Name)}
	ctx := context.Background()
	node := "press-outage"
	ref := "refs/heads/status/" + node
	clk := &clock{now: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	w := newWriter(t, cfg, node, clk)
	rev := "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
	failing := func(class, reason string, since time.Time, n int) *status.NodeStatus {
		st := report(node, rev, status.StateRunning, clk.Now())
		st.Status.Errors = []status.Error{{Ref: "127.0.0.1:5000/models/m", Reason: reason}}
		st.Status.Conditions[0].Status, st.Status.Conditions[0].Reason = "False", status.ReasonRetrying
		st.Status.Outage = &status.Outage{Class: class, Since: since, Failures: n, Reason: reason}
		return st
	}
	ended := func(o *status.Outage, n int) *status.NodeStatus {
		st := report(node, rev, status.StateRunning, clk.Now())
		until := clk.Now()
		st.Status.Outage = &status.Outage{Class: o.Class, Since: o.Since, Until: &until, Failures: n, Reason: o.Reason}
		return st
	}
	step := func(st *status.NodeStatus) {
		t.Helper()
		if err := w.Report(ctx, st); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}

	step(report(node, rev, status.StateRunning, clk.Now()))
	// The registry is down for five passes, each error naming another
	// temporary file.
	since := clk.Now()
	for i := range 5 {
		step(failing("retrying", "pull: write /var/lib/containerd/ingest/tmp-"+strings.Repeat("7", i+1)+": connection refused", since, i+1))
	}
	over := ended(failing("retrying", "x", since, 5).Status.Outage, 5)
	step(over)
	// Later reports keep the ended outage as it was.
	again := report(node, rev, status.StateRunning, clk.Now())
	again.Status.Outage = over.Status.Outage
	step(again)

	// The git server is down for three passes: the reports cannot be
	// written, and the first one after says so.
	p.down()
	since = clk.Now()
	for i := range 3 {
		if err := w.Report(ctx, failing("retrying", "fetch "+r.Name+": connection refused", since, i+1)); err == nil {
			t.Fatal("report with the git server down succeeded")
		}
		clk.Add(time.Second)
	}
	p.up()
	step(ended(failing("retrying", "x", since, 4).Status.Outage, 4))

	log := strings.Split(strings.TrimSpace(r.BareGit("log", "--reverse", "--format=%s", ref)), "\n")
	if len(log) != 4 {
		t.Fatalf("status commits = %q, want 4: first report, registry outage start and end, git outage", log)
	}
	if !strings.HasPrefix(log[1], node+": retrying: ") {
		t.Errorf("commit at the registry outage's start: %q, want retrying: …", log[1])
	}
	if !strings.Contains(log[2], "errors cleared") || !strings.Contains(log[2], "retrying ended after 5s (5 failures since 2026-11-30T08:00:01Z)") {
		t.Errorf("commit at the registry outage's end: %q, want errors cleared and the outage's length and count", log[2])
	}
	if !strings.Contains(log[3], "retrying ended after 3s (4 failures since 2026-11-30T08:00:08Z)") {
		t.Errorf("first commit after the git server is back: %q, want the git outage's length and count", log[3])
	}
}
