package source_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// tally is a source.Traffic that adds up the bytes of each op.
type tally struct {
	mu sync.Mutex
	n  map[source.Op]int64
}

func (c *tally) add(op source.Op, sent, received int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[source.Op]int64{}
	}
	c.n[op] += sent + received
}

// take returns the bytes counted per op since the last take.
func (c *tally) take() map[source.Op]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = nil
	return out
}

// checkTally fails unless the bytes counted are wire's, all of them for op.
func checkTally(t *testing.T, what string, c *tally, op source.Op, wire int64) {
	t.Helper()
	got := c.take()
	if wire == 0 {
		t.Fatalf("%s: the wire saw no bytes", what)
	}
	if !maps.Equal(got, map[source.Op]int64{op: wire}) {
		t.Errorf("%s: counted %v, the wire carried %d bytes (all %s)", what, got, wire, op)
	}
}

// TestTrafficIsWhatTheWireCarries: the bytes a source counts for a poll,
// a fetch and a deeper fetch (Deepen) are exactly what a byte-counting TCP proxy in front of the
// server passed (git daemon, http-backend, sshd), or what went through
// git-upload-pack's pipes for file://. Both count the same thing, the
// connection's payload: for ssh that includes its key exchange and
// framing, since the source counts the TCP connection under the ssh
// client, not the session's streams.
func TestTrafficIsWhatTheWireCarries(t *testing.T) {
	countUploadPack(t)
	r, _ := fleetRepo(t)
	ctx := context.Background()
	v2 := servers(t, r, gittest.HTTPOptions{}, "AcceptEnv GIT_PROTOCOL")
	// Servers without protocol v2 (http-backend that never sees the
	// Git-Protocol header, sshd without AcceptEnv GIT_PROTOCOL): their v0
	// exchanges are counted the same.
	v0 := servers(t, r, gittest.HTTPOptions{ProtocolV0: true})
	for _, name := range []string{"daemon", "http", "ssh", "file", "http-v0", "ssh-v0"} {
		t.Run(name, func(t *testing.T) {
			target, ok := v2[name]
			if v, ok0 := strings.CutSuffix(name, "-v0"); ok0 {
				target, ok = v0[v]
			}
			if !ok {
				t.Fatalf("no server %s", name)
			}
			var c tally
			cfg := target.cfg
			cfg.Node, cfg.Traffic = "press-01", c.add
			g := newGit(t, cfg)
			target.bytes()
			for i := range 2 {
				head, err := g.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				checkTally(t, "poll", &c, source.OpPoll, target.bytes())
				if want := map[bool]string{true: source.ProtocolV0, false: source.ProtocolV2}[strings.HasSuffix(name, "-v0")]; g.Protocol() != want {
					t.Fatalf("protocol %q, want %q", g.Protocol(), want)
				}
				if _, err := g.Tree(ctx, head); err != nil {
					t.Fatal(err)
				}
				checkTally(t, "fetch", &c, source.OpFetch, target.bytes())
				if i == 1 {
					// Commit verification walking history.
					if err := g.Deepen(ctx, 2); err != nil {
						t.Fatal(err)
					}
					checkTally(t, "deepen", &c, source.OpFetch, target.bytes())
				}
				if i == 0 {
					// The second fetch is of a new commit on top of
					// what the store holds.
					r.Write("workloads/detector.yaml", "kind: Workload\nmetadata: {name: detector}\n# "+name+"\n")
					r.Commit("change for " + name)
				}
			}
		})
	}
}

// TestTrafficOfStatusPushes: the bytes a status writer counts for its
// reports (reading its ref, then one push per report: a POST over smart
// HTTP, a receive-pack session over ssh; a restarted writer that lost its
// last report first fetches the ref's commit) are what a byte-counting proxy in
// front of http-backend or sshd passed. Over ssh that is the whole
// connection, key exchange included, since that is what the writer counts.
func TestTrafficOfStatusPushes(t *testing.T) {
	r, _ := fleetRepo(t)
	// sshd with and without AcceptEnv GIT_PROTOCOL: a restarted writer
	// reads its ref's commit with a v2 fetch or, from a v0 server, with
	// go-git's exchange on the writer's own connection.
	sshURL, key, knownHosts := gittest.ServeSSH(t, r.BareParent, "AcceptEnv GIT_PROTOCOL")
	sshV0URL, keyV0, knownHostsV0 := gittest.ServeSSH(t, r.BareParent)
	for _, name := range []string{"http", "http-v0", "ssh", "ssh-v0"} {
		t.Run(name, func(t *testing.T) {
			var url string
			var proxy *gittest.Proxy
			var auth source.Auth
			switch name {
			case "http":
				url, proxy = gittest.ProxyURL(t, gittest.ServeHTTP(t, r.BareParent, "", ""))
			case "http-v0":
				url, proxy = gittest.ProxyURL(t, gittest.ServeHTTPWith(t, r.BareParent, gittest.HTTPOptions{ProtocolV0: true}))
			case "ssh":
				url, proxy = gittest.ProxyURL(t, sshURL)
				auth = source.Auth{SSHKeyFile: key, KnownHostsFile: knownHostsFor(t, knownHosts, url)}
			case "ssh-v0":
				url, proxy = gittest.ProxyURL(t, sshV0URL)
				auth = source.Auth{SSHKeyFile: keyV0, KnownHostsFile: knownHostsFor(t, knownHostsV0, url)}
			}
			node := "press-" + name
			var c tally
			clk := &clock{now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
			open := func() *source.StatusWriter {
				w, err := source.NewStatusWriter(source.StatusConfig{Location: loc(t, url+"/"+r.Name, auth), Node: node,
					Dir: t.TempDir(), Now: clk.Now, Traffic: c.add}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return w
			}
			w := open()
			ctx := context.Background()
			proxy.Take()
			var last string
			for i, state := range []string{status.StateRunning, status.StateFailed, status.StateStopped} {
				if i == 2 {
					// A new writer without the last report on disk
					// reads the ref and fetches its commit first.
					w = open()
				}
				if err := w.Report(ctx, report(node, r.RemoteRef("refs/heads/main"), state, clk.Now())); err != nil {
					t.Fatal(err)
				}
				head := r.RemoteRef("refs/heads/status/" + node)
				if head == "" || head == last {
					t.Fatalf("report %d: the status ref is %q, was %q", i, head, last)
				}
				last = head
				n, _ := proxy.Take()
				checkTally(t, "push", &c, source.OpPush, n)
				clk.Add(time.Minute)
			}
		})
	}
}
