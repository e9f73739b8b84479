package runtime

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPullByDigest(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.pull(t)

	img, err := e.c.client.GetImage(e.c.ns(ctx), echo.ref)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(e.c.ns(ctx), e.c.cfg.Snapshotter); err != nil || !ok {
		t.Errorf("IsUnpacked = %v, %v; want true", ok, err)
	}
	before := reg.requests.Load()
	e.pull(t)
	if got := reg.requests.Load() - before; got != 0 {
		t.Errorf("second pull made %d registry requests, want 0", got)
	}
	ls, err := e.c.client.LeasesService().List(e.c.ns(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Errorf("leases after pull: %v, want none", ls)
	}
}

func TestPullRefusesUnpinned(t *testing.T) {
	e := setup(t)
	tagged := reg.host + "/test/echo:latest"
	before := reg.requests.Load()
	err := e.c.Pull(t.Context(), source(t, tagged, registries()))
	if err == nil || !strings.Contains(err.Error(), tagged) || !strings.Contains(err.Error(), "digest") {
		t.Errorf("Pull(%s) = %v, want an error naming the ref and the digest", tagged, err)
	}
	if got := reg.requests.Load() - before; got != 0 {
		t.Errorf("refused pull made %d registry requests, want 0", got)
	}
}

// interruptPull cancels a pull of the echo image once containerd has
// stored part of its layer, as when an agent is killed mid-pull. It checks
// that the pull's lease and the partial content stay.
func interruptPull(t *testing.T, e *env) {
	t.Helper()
	nctx := e.c.ns(t.Context())
	stalled := reg.stallBlob(echo.layer)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		<-stalled
		for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			ingests, _ := e.c.client.ContentStore().ListStatuses(nctx)
			for _, st := range ingests {
				if st.Offset > 0 {
					return
				}
			}
		}
	}()
	if err := e.c.Pull(ctx, source(t, echo.ref, registries())); err == nil {
		t.Fatal("pull with a stalled layer and cancelled context succeeded")
	}
	_, dgst, _ := pinned(echo.ref)
	ls, err := e.c.client.LeasesService().List(nctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].ID != PullLeaseID(dgst) {
		t.Fatalf("leases after interrupted pull: %v, want one %s", ls, PullLeaseID(dgst))
	}
	ingests, err := e.c.client.ContentStore().ListStatuses(nctx)
	if err != nil {
		t.Fatal(err)
	}
	var partial int64
	for _, st := range ingests {
		partial += st.Offset
	}
	if partial == 0 {
		t.Fatalf("no partial content kept after the interrupted pull (ingests %v)", ingests)
	}
}

// pullLeases returns the leases left in e's namespace.
func pullLeases(t *testing.T, e *env) int {
	t.Helper()
	ls, err := e.c.client.LeasesService().List(e.c.ns(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ls)
}

// An interrupted pull leaves its lease, so the content it stored survives,
// and the next pull reuses the lease and resumes with a Range request.
func TestPullInterruptedResumes(t *testing.T) {
	e := setup(t)
	interruptPull(t, e)
	rangesBefore := len(reg.rangeHeaders())
	e.pull(t)
	if n := pullLeases(t, e); n != 0 {
		t.Errorf("%d leases after the resumed pull, want none", n)
	}
	ranges := reg.rangeHeaders()[rangesBefore:]
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") || strings.HasPrefix(ranges[0], "bytes=0-") {
		t.Errorf("Range headers of the resumed pull: %q, want one from the stored offset", ranges)
	}
}

// A registry that refuses to resume (go-containerregistry's answers 416 to
// "bytes=N-") does not wedge the image: the pull starts over.
func TestPullResumeRefusedStartsOver(t *testing.T) {
	e := setup(t)
	interruptPull(t, e)
	reg.setStrictRanges(true)
	t.Cleanup(func() { reg.setStrictRanges(false) })
	e.pull(t)
	if n := pullLeases(t, e); n != 0 {
		t.Errorf("%d leases after the pull, want none", n)
	}
}
