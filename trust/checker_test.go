package trust

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/gittest"
)

// shallowHistory is a depth-1 bare clone of a repo, as the agent's store
// starts; Deepen fetches more with the git CLI, unless frozen, and records
// the depths asked for.
type shallowHistory struct {
	t      *testing.T
	dir    string
	url    string
	frozen bool  // Deepen brings nothing
	fail   error // Deepen fails with this
	depths []int
}

func newShallowHistory(t *testing.T, r *repo) *shallowHistory {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store.git")
	url := gittest.FileURL(r.BareDir)
	gittest.Git(t, "", "clone", "-q", "--bare", "--depth", "1", url, dir)
	return &shallowHistory{t: t, dir: dir, url: url}
}

func (h *shallowHistory) Repository() (*git.Repository, error) { return git.PlainOpen(h.dir) }

func (h *shallowHistory) Deepen(_ context.Context, depth int) error {
	h.depths = append(h.depths, depth)
	if h.fail != nil {
		return h.fail
	}
	if !h.frozen {
		gittest.Git(h.t, h.dir, "fetch", "-q", "--depth", fmt.Sprint(depth), h.url, "+refs/heads/main:refs/heads/main")
	}
	return nil
}

// fullHistory is a repository that holds everything: asking it for more is
// a test failure.
type fullHistory struct {
	t *testing.T
	r *repo
}

func (h fullHistory) Repository() (*git.Repository, error) { return h.r.open() }
func (h fullHistory) Deepen(context.Context, int) error {
	h.t.Error("Deepen called on a repository that holds the whole history")
	return nil
}

// TestCheckerDeepensInSteps: the last applied revision lies 40 commits
// below the new head, beyond a depth-1 store: history is fetched in the
// documented steps (16, then 64) until the ancestry is proven, no further.
func TestCheckerDeepensInSteps(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	for i := range 39 {
		r.commit(signer{}, fmt.Sprintf("unsigned %d", i))
	}
	head := r.commit(alice.sign(), "head")
	h := newShallowHistory(t, r)

	if err := NewChecker(h, local, Options{}).VerifyCommit(context.Background(), head, base, "head"); err != nil {
		t.Fatalf("VerifyCommit: %v", err)
	}
	if want := []int{16, 64}; !slices.Equal(h.depths, want) {
		t.Errorf("depths fetched = %v, want %v", h.depths, want)
	}

	// Asked again (a retried pass), the history is held: nothing fetched.
	h.depths = nil
	if err := NewChecker(h, local, Options{}).VerifyCommit(context.Background(), head, base, "head"); err != nil {
		t.Fatalf("VerifyCommit again: %v", err)
	}
	if len(h.depths) != 0 {
		t.Errorf("depths fetched the second time = %v, want none", h.depths)
	}
}

// TestCheckerBoundsDeepening: when history never reaches the last applied
// revision, the checker stops at MaxDepth commits and refuses, saying why.
func TestCheckerBoundsDeepening(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	r.commit(signer{}, "middle")
	head := r.commit(alice.sign(), "head")
	h := newShallowHistory(t, r)
	h.frozen = true

	err := NewChecker(h, local, Options{}).VerifyCommit(context.Background(), head, base, "head")
	wantRefused(t, err, head, fmt.Sprintf("more than %d commits back", MaxDepth))
	if c := fault.ClassOf(err); c != fault.Refused {
		t.Errorf("class = %s, want refused", c)
	}
	if want := []int{16, 64, 256, 1024, 4096}; !slices.Equal(h.depths, want) {
		t.Errorf("depths fetched = %v, want %v", h.depths, want)
	}
}

// TestCheckerDeepenFailureIsNotARefusal: a server that is down while the
// checker needs history leaves the error's own class (transient here): the
// revision is asked about again, not refused.
func TestCheckerDeepenFailureIsNotARefusal(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	r.commit(signer{}, "middle")
	head := r.commit(alice.sign(), "head")
	h := newShallowHistory(t, r)
	down := errors.New("dial tcp 127.0.0.1:9418: connect: connection refused")
	h.fail = down

	err := NewChecker(h, local, Options{}).VerifyCommit(context.Background(), head, base, "head")
	if !errors.Is(err, down) || errors.Is(err, ErrRefused) || fault.ClassOf(err) != fault.Transient {
		t.Fatalf("VerifyCommit = %v (class %s); want the transient fetch error", err, fault.ClassOf(err))
	}
}

// TestCheckerModeEscalation: the revision's fleet.yaml can make the check
// stricter, never weaker, and a fleet.yaml that cannot be read means the
// strictest mode, said in the refusal.
func TestCheckerModeEscalation(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	local := parseSet(t, map[string]string{"allowed_signers": "alice " + alice.line})
	r := newRepo(t)
	base := r.commit(alice.sign(), "base")
	unsigned := r.commit(signer{}, "unsigned in the middle")
	head := r.commit(alice.sign(), "signed head")
	h := fullHistory{t: t, r: r}
	ctx := context.Background()

	for _, c := range []struct {
		node  Mode
		asked string
		want  string // "" to apply, else what the refusal says
	}{
		{ModeHead, "head", ""},
		{"", "head", ""},
		{ModeHead, "all", "asked for by the revision's fleet.yaml"},
		{ModeAll, "head", "not signed"},
		{ModeAll, "", "not signed"},
		{ModeHead, "", "fleet.yaml could not be read"},
		{ModeHead, "every", `unknown mode "every"`},
	} {
		err := NewChecker(h, local, Options{Mode: c.node}).VerifyCommit(ctx, head, base, c.asked)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("node %q, asked %q: %v; want applied", c.node, c.asked, err)
		case c.want != "" && (!errors.Is(err, ErrRefused) || !strings.Contains(fmt.Sprint(err), unsigned) || !strings.Contains(fmt.Sprint(err), c.want)):
			t.Errorf("node %q, asked %q: %v\nwant a refusal of %.7s saying %q", c.node, c.asked, err, unsigned, c.want)
		}
	}

	// Every commit signed: the stricter mode applies it.
	r.Reset(base)
	r.commit(alice.sign(), "signed middle")
	head = r.commit(alice.sign(), "signed head")
	for _, asked := range []string{"all", ""} {
		if err := NewChecker(h, local, Options{}).VerifyCommit(ctx, head, base, asked); err != nil {
			t.Errorf("all signed, asked %q: %v", asked, err)
		}
	}
}

func TestEscalate(t *testing.T) {
	for _, c := range []struct {
		node   Mode
		asked  string
		want   Mode
		louder bool // why is set
	}{
		{"", "head", ModeHead, false},
		{ModeHead, "head", ModeHead, false},
		{ModeHead, "all", ModeAll, true},
		{ModeAll, "head", ModeAll, false},
		{ModeAll, "all", ModeAll, false},
		{ModeHead, "", ModeAll, true},
		{ModeHead, "HEAD", ModeAll, true},
	} {
		got, why := Escalate(c.node, c.asked)
		if got != c.want || (why != "") != c.louder {
			t.Errorf("Escalate(%q, %q) = %q, %q; want %q (reason given: %v)", c.node, c.asked, got, why, c.want, c.louder)
		}
	}
}
