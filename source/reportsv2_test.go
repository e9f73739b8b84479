package source_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// reportsFixture is a fleet repo with two status reports; busy also holds
// extraRefs branches that are not status refs.
func reportsFixture(t *testing.T, busy bool) *gittest.Repo {
	t.Helper()
	r, _ := fleetRepo(t)
	if busy {
		r.AddRefs("feature/f-", extraRefs)
	}
	for _, n := range []string{"press-01", "press-02"} {
		pushRaw(t, r, n, marshal(t, report(n, strings.Repeat("1a", 20), status.StateRunning, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))))
	}
	return r
}

// readBytes reads the reports of target and returns the bytes it cost.
func readBytes(t *testing.T, target pollTarget) int64 {
	t.Helper()
	target.bytes()
	got, err := source.ReadReports(context.Background(), target.cfg.Location)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"press-01", "press-02"} {
		if rep := got[n]; rep.Err != nil || rep.Status == nil || rep.Status.Metadata.Name != n {
			t.Errorf("%s: %+v, want its report", n, rep)
		}
	}
	if len(got) != 2 {
		t.Errorf("ReadReports = %d reports, want 2", len(got))
	}
	return target.bytes()
}

// TestReadReportsAsksOnlyForStatusRefs: reading the reports of a
// repository with 10,000 other branches costs what it costs without them
// (protocol v2 ls-refs with ref-prefix refs/heads/status/, then a v2
// fetch: no ref advertisement), over every transport; a server that
// speaks v0 only is still read, with its whole advertisement.
func TestReadReportsAsksOnlyForStatusRefs(t *testing.T) {
	countUploadPack(t)
	quiet, busy := reportsFixture(t, false), reportsFixture(t, true)
	accept := "AcceptEnv GIT_PROTOCOL"
	quietSrv := servers(t, quiet, gittest.HTTPOptions{}, accept)
	busySrv := servers(t, busy, gittest.HTTPOptions{}, accept)
	for _, name := range []string{"file", "daemon", "http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			q, b := readBytes(t, quietSrv[name]), readBytes(t, busySrv[name])
			t.Logf("reports: %d B without other refs, %d B with %d other refs", q, b, extraRefs)
			if q == 0 {
				t.Fatal("no bytes counted")
			}
			// A v0 advertisement would add about 740 KB.
			if grewWithRefs(q, b) {
				t.Errorf("reading the reports of a repository with %d other refs costs %d B, without %d B: it grows with the refs", extraRefs, b, q)
			}
		})
	}
	v0 := servers(t, busy, gittest.HTTPOptions{ProtocolV0: true})
	for _, name := range []string{"http", "ssh"} {
		t.Run(name+"-v0", func(t *testing.T) {
			if b := readBytes(t, v0[name]); b < int64(len("refs/heads/feature/f-00000"))*extraRefs {
				t.Errorf("a v0 server's reports cost %d B: its advertisement is missing", b)
			}
		})
	}
}

// TestOpenBranchAsksForItAlone: opening one branch of a remote (the
// overview) costs the same with 10,000 other refs beside it, and reads
// the branch as it is.
func TestOpenBranchAsksForItAlone(t *testing.T) {
	countUploadPack(t)
	quiet, busy := reportsFixture(t, false), reportsFixture(t, true)
	want := quiet.RemoteRef("refs/heads/main")
	accept := "AcceptEnv GIT_PROTOCOL"
	quietSrv := servers(t, quiet, gittest.HTTPOptions{}, accept)
	busySrv := servers(t, busy, gittest.HTTPOptions{}, accept)
	open := func(target pollTarget) int64 {
		t.Helper()
		target.bytes()
		r, err := source.Open(context.Background(), target.cfg.Location, source.OpenOptions{Branch: "main", Depth: 5})
		if err != nil {
			t.Fatal(err)
		}
		head, err := r.Branch("main")
		if err != nil || head != want {
			t.Fatalf("Branch(main) = %s, %v; want %s", head, err, want)
		}
		fsys, _, err := r.Tree(head)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, fsys, "nodes/press-01.yaml"); !strings.Contains(got, "press-01") {
			t.Errorf("nodes/press-01.yaml = %q", got)
		}
		return target.bytes()
	}
	for _, name := range []string{"daemon", "http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			q, b := open(quietSrv[name]), open(busySrv[name])
			t.Logf("open: %d B without other refs, %d B with %d other refs", q, b, extraRefs)
			if grewWithRefs(q, b) {
				t.Errorf("opening main of a repository with %d other refs costs %d B, without %d B", extraRefs, b, q)
			}
		})
	}
}

// TestReadReportsMany reads a fleet's worth of reports (decoded by several
// goroutines): each is its own node's, none is lost or mixed up.
func TestReadReportsMany(t *testing.T) {
	r, _ := fleetRepo(t)
	const n = 150
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range n {
		node := fmt.Sprintf("n-%03d", i)
		pushRaw(t, r, node, marshal(t, report(node, strings.Repeat(fmt.Sprintf("%02d", i%100), 20), status.StateRunning, at)))
	}
	got, err := source.ReadReports(context.Background(), loc(t, gittest.FileURL(r.BareDir)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d reports, want %d", len(got), n)
	}
	for i := range n {
		node := fmt.Sprintf("n-%03d", i)
		rep := got[node]
		if rep.Err != nil || rep.Status == nil || rep.Status.Metadata.Name != node ||
			rep.Status.Status.AppliedRevision != strings.Repeat(fmt.Sprintf("%02d", i%100), 20) || rep.Commit != r.RemoteRef("refs/heads/status/"+node) {
			t.Errorf("%s: %+v", node, rep)
		}
	}
}

// TestNodeFetchAsksForTheBranchAlone: an agent's fetch (Config.Node)
// costs the same with 10,000 other refs beside the branch (v2 ls-refs and
// fetch, no advertisement), and reads its files.
func TestNodeFetchAsksForTheBranchAlone(t *testing.T) {
	countUploadPack(t)
	quiet, busy := reportsFixture(t, false), reportsFixture(t, true)
	accept := "AcceptEnv GIT_PROTOCOL"
	quietSrv := servers(t, quiet, gittest.HTTPOptions{}, accept)
	busySrv := servers(t, busy, gittest.HTTPOptions{}, accept)
	sync := func(target pollTarget) int64 {
		t.Helper()
		cfg := target.cfg
		cfg.Node = "press-01"
		g := newGit(t, cfg)
		target.bytes()
		head, err := g.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := g.Tree(context.Background(), head)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, fsys, "nodes/press-01.yaml"); !strings.Contains(got, "press-01") {
			t.Errorf("nodes/press-01.yaml = %q", got)
		}
		return target.bytes()
	}
	for _, name := range []string{"file", "daemon", "http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			q, b := sync(quietSrv[name]), sync(busySrv[name])
			t.Logf("first sync: %d B without other refs, %d B with %d other refs", q, b, extraRefs)
			if q == 0 {
				t.Fatal("no bytes counted")
			}
			if grewWithRefs(q, b) {
				t.Errorf("a first sync beside %d other refs costs %d B, without %d B", extraRefs, b, q)
			}
		})
	}
}
