package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/source"
)

// otherNodes is how many other nodes' status refs the busy fleet repo
// holds.
const otherNodes = 10000

// passCost is what one fleetd --once cost at the git server.
type passCost struct {
	bytes    int64
	requests []string
}

func (c passCost) pushes() int {
	n := 0
	for _, r := range c.requests {
		if strings.Contains(r, "receive-pack") {
			n++
		}
	}
	return n
}

// TestPassCostDoesNotGrowWithTheFleet runs fleetd --once against a fleet
// repo without other refs and one with 10,000 other nodes' status refs,
// counting requests and bytes at the git server (http-backend behind a
// byte-counting proxy). A pass where nothing changed costs what a poll
// alone costs and exchanges nothing about status; a pass whose report
// changed (here: the heartbeat is due) costs one push more; neither grows
// with the fleet.
func TestPassCostDoesNotGrowWithTheFleet(t *testing.T) {
	ctd := runtimetest.StartT(t)
	type result struct{ poll, noop, changed passCost }
	run := func(name string, extra int) result {
		repo := gittest.NewRepo(t)
		repo.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: e2e}\nspec:\n  pollInterval: 1s\n")
		repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: press-01\n  labels: {site: plant-1}\n")
		head := repo.Commit("a fleet with nothing to run on press-01")
		if extra > 0 {
			repo.AddRefs("status/node-", extra)
		}
		var reqs gittest.RequestLog
		url, proxy := gittest.ProxyURL(t, gittest.ServeHTTPWith(t, repo.BareParent, gittest.HTTPOptions{Requests: &reqs}))
		url += "/" + repo.Name
		take := func() passCost {
			b, _ := proxy.Take()
			return passCost{bytes: b, requests: reqs.Take()}
		}
		a := newAgent(t, repo, url, ctd.Address, "press-01", "", "--insecure-skip-verify", "--namespace", "noop-"+name)
		a.mustOnce() // applies the head and commits the first report
		if st := a.report().Status; st.AppliedRevision != head {
			t.Fatalf("%s: applied %s, want %s", name, st.AppliedRevision, head)
		}
		statusHead := repo.RemoteRef("refs/heads/status/press-01")
		take()

		// A poll alone, as a fresh agent process makes it.
		l, err := source.ParseLocation(url, source.Auth{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := source.New(source.Config{Location: l, Dir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := g.Head(context.Background()); err != nil || got != head {
			t.Fatalf("%s: Head = %s, %v; want %s", name, got, err, head)
		}
		var r result
		r.poll = take()

		a.mustOnce()
		r.noop = take()
		if got := repo.RemoteRef("refs/heads/status/press-01"); got != statusHead {
			t.Errorf("%s: a pass where nothing changed moved the status ref", name)
		}

		a.args = append(a.args, "--heartbeat", "1ms")
		a.mustOnce()
		r.changed = take()
		if got := repo.RemoteRef("refs/heads/status/press-01"); got == statusHead {
			t.Errorf("%s: the heartbeat was not committed", name)
		}
		t.Logf("%s (%d other refs): poll %d B %v; no-op pass %d B %v; heartbeat pass %d B %v", name, extra,
			r.poll.bytes, r.poll.requests, r.noop.bytes, r.noop.requests, r.changed.bytes, r.changed.requests)
		return r
	}
	quiet := run("quiet", 0)
	busy := run("busy", otherNodes)

	for _, r := range []struct {
		name string
		res  result
	}{{"quiet", quiet}, {"busy", busy}} {
		if r.res.noop.pushes() != 0 || len(r.res.noop.requests) != len(r.res.poll.requests) {
			t.Errorf("%s: a pass where nothing changed made %v; a poll alone makes %v", r.name, r.res.noop.requests, r.res.poll.requests)
		}
		// The same requests, give or take the bytes of a changed
		// User-Agent or date.
		if r.res.noop.bytes > r.res.poll.bytes+64 {
			t.Errorf("%s: a pass where nothing changed costs %d B, a poll alone %d B", r.name, r.res.noop.bytes, r.res.poll.bytes)
		}
		if r.res.changed.pushes() != 1 {
			t.Errorf("%s: a pass whose report changed made %v, want one push", r.name, r.res.changed.requests)
		}
	}
	// The report itself differs in a few bytes between the two runs (its
	// commit ids); ten thousand refs would add at least 280 KB.
	if busy.noop.bytes > quiet.noop.bytes+64 || busy.changed.bytes > quiet.changed.bytes+512 {
		t.Errorf("with %d other nodes a no-op pass costs %d B and a changed one %d B; without, %d B and %d B: the cost grows with the fleet",
			otherNodes, busy.noop.bytes, busy.changed.bytes, quiet.noop.bytes, quiet.changed.bytes)
	}
}
