package fleetstatus_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"golang.org/x/crypto/ssh"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// loc parses a location with auth (at most one), failing the test on error.
func loc(t testing.TB, s string, auth ...source.Auth) source.Location {
	t.Helper()
	var a source.Auth
	if len(auth) > 0 {
		a = auth[0]
	}
	l, err := source.ParseLocation(s, a)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func collect(t *testing.T, opts fleetstatus.Options) *fleetstatus.Fleet {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	f, err := fleetstatus.Collect(context.Background(), opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return f
}

// render writes f in every text format, with the repository URLs (which
// hold a temporary directory or a port) replaced by placeholders.
func render(t *testing.T, f *fleetstatus.Fleet) map[string]string {
	t.Helper()
	out := map[string]string{}
	for ext, write := range map[string]func(*fleetstatus.Fleet, *bytes.Buffer) error{
		"txt":  func(f *fleetstatus.Fleet, b *bytes.Buffer) error { return f.WriteText(b) },
		"json": func(f *fleetstatus.Fleet, b *bytes.Buffer) error { return f.WriteJSON(b) },
		"md":   func(f *fleetstatus.Fleet, b *bytes.Buffer) error { return f.WriteMarkdown(b) },
	} {
		var b bytes.Buffer
		if err := write(f, &b); err != nil {
			t.Fatalf("write %s: %v", ext, err)
		}
		s := b.String()
		if f.StatusRepo != "" {
			s = strings.ReplaceAll(s, f.StatusRepo, "STATUS-REPO")
		}
		out[ext] = strings.ReplaceAll(s, f.Repo, "REPO")
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./fleetstatus -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./fleetstatus -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestGolden reads the fixture fleet over file:// and smart HTTP; both
// must give the golden outputs.
func TestGolden(t *testing.T) {
	fx := newFixture(t)
	httpURL := gittest.ServeHTTP(t, fx.repo.BareParent, "", "") + "/" + fx.repo.Name
	for _, tc := range []struct{ name, url string }{
		{"file", gittest.FileURL(fx.repo.BareDir)},
		{"http", httpURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := collect(t, fleetstatus.Options{Repo: loc(t, tc.url), HistoryDepth: 3})
			if f.Head != fx.revs[4] {
				t.Errorf("Head = %s, want %s", f.Head, fx.revs[4])
			}
			out := render(t, f)
			for _, ext := range []string{"txt", "json", "md"} {
				golden(t, "fleet."+ext, out[ext])
			}
		})
		if *update {
			break
		}
	}
}

func TestStates(t *testing.T) {
	fx := newFixture(t)
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), HistoryDepth: 3})
	want := map[string]fleetstatus.State{
		"press-01": fleetstatus.UpToDate,
		"press-02": fleetstatus.Updating,
		"press-05": fleetstatus.Updating,
		"oven-01":  fleetstatus.Failing,
		"oven-02":  fleetstatus.Failing,
		"lab-01":   fleetstatus.Failing,
		"lab-02":   fleetstatus.Untrusted, // no node file, so no key enrolled
		"press-06": fleetstatus.Untrusted, // signed by press-01's key
		"oven-04":  fleetstatus.Untrusted, // not signed
		"press-03": fleetstatus.Stale,
		"oven-03":  fleetstatus.Offline,
		"press-04": fleetstatus.Offline,
	}
	got := map[string]fleetstatus.Node{}
	for _, n := range f.Nodes {
		got[n.Name] = n
	}
	if len(got) != len(want) {
		t.Errorf("%d nodes, want %d", len(got), len(want))
	}
	for name, state := range want {
		if n := got[name]; n.State != state {
			t.Errorf("%s: state %q (%s), want %q", name, n.State, n.Reason, state)
		}
	}
	for _, tt := range []struct {
		node string
		want string // Behind.String(), or "" for nil
	}{
		{"press-01", "0"}, {"press-02", "1"}, {"press-05", "≥3"}, {"press-04", ""},
	} {
		b := got[tt.node].Behind
		if s := ""; b != nil {
			s = b.String()
			if s != tt.want {
				t.Errorf("%s: behind %s, want %q", tt.node, s, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s: behind unknown, want %s", tt.node, tt.want)
		}
	}
	if g := got["press-01"].Groups; len(g) != 1 || g[0] != "line-a" {
		t.Errorf("press-01 groups = %q, want [line-a]", g)
	}
	if e := got["lab-01"].Errors; len(e) != 1 || !strings.Contains(e[0], "status/lab-01.yaml") {
		t.Errorf("lab-01 errors = %q, want the parse error naming the file", e)
	}
	if n := got["oven-02"]; n.Failing != 1 || n.Healthy != 0 {
		t.Errorf("oven-02 healthy/failing = %d/%d, want 0/1", n.Healthy, n.Failing)
	}
	for name, why := range map[string]string{
		"press-06": "signed by ssh-ed25519 key " + ssh.FingerprintSHA256(statusSigner(t, "press-01").PublicKey()) + ", not the enrolled ssh-ed25519 key " + ssh.FingerprintSHA256(statusSigner(t, "press-06").PublicKey()),
		"oven-04":  "commit not signed",
		"lab-02":   "no statusKey enrolled",
	} {
		if n := got[name]; !strings.Contains(n.Untrusted, why) || !strings.Contains(n.Reason, "untrusted report: "+why) || n.SignedBy != "" {
			t.Errorf("%s: untrusted %q, reason %q, signed by %q; want untrusted saying %q", name, n.Untrusted, n.Reason, n.SignedBy, why)
		}
	}
	if n := got["press-01"]; n.Untrusted != "" || n.SignedBy != ssh.FingerprintSHA256(statusSigner(t, "press-01").PublicKey()) {
		t.Errorf("press-01: untrusted %q, signed by %q; want trusted, signed by its own key", n.Untrusted, n.SignedBy)
	}
	for s, c := range map[fleetstatus.State]int{fleetstatus.UpToDate: 1, fleetstatus.Updating: 2, fleetstatus.Failing: 3, fleetstatus.Untrusted: 3, fleetstatus.Stale: 1, fleetstatus.Offline: 2} {
		if f.Counts[s] != c {
			t.Errorf("Counts[%s] = %d, want %d", s, f.Counts[s], c)
		}
	}
}
