package runtime

import (
	"slices"
	"testing"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/leases"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
)

func TestGCRemovesWhatNothingNeeds(t *testing.T) {
	e := setup(t)
	e.pull(t) // echo: used by a container
	ctx := e.c.ns(t.Context())
	fallback := ocitest.RandomImage(t, reg.host, "test/fallback")
	unused := ocitest.RandomImage(t, reg.host, "test/unused")
	for _, ref := range []string{fallback, unused} {
		if err := e.c.Pull(t.Context(), source(t, ref, registries())); err != nil {
			t.Fatal(err)
		}
	}
	d := desired("web", porttest.Port(t), nil)
	e.run(t, d, "rev1")

	// The unused image's content, to check it is gone afterwards.
	img, err := e.c.client.GetImage(ctx, unused)
	if err != nil {
		t.Fatal(err)
	}
	unusedContent, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := e.c.client.SnapshotService(e.c.cfg.Snapshotter)
	chain := identity.ChainID(unusedContent).String()
	if _, err := sn.Stat(ctx, chain); err != nil {
		t.Fatalf("snapshot of the unused image before GC: %v", err)
	}
	// An abandoned pull of another image holds partial content.
	stale := digest.FromString("abandoned")
	if _, err := e.c.client.LeasesService().Create(ctx, leases.WithID(PullLeaseID(stale))); err != nil {
		t.Fatal(err)
	}

	if _, err := e.c.GC(t.Context(), []string{"not-pinned:latest"}); err == nil {
		t.Error("GC with a keep reference not pinned by digest succeeded")
	}

	removed, err := e.c.GC(t.Context(), []string{fallback})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{unused}; !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	names := e.images(t)
	if want := []string{echo.ref, fallback}; !sameSet(names, want) {
		t.Errorf("images after GC %v, want %v", names, want)
	}
	// Synchronous: the content and the snapshot chain are gone on return.
	if _, err := e.c.client.ContentStore().Info(ctx, img.Target().Digest); !errdefs.IsNotFound(err) {
		t.Errorf("manifest of the removed image still in the content store: %v", err)
	}
	if _, err := sn.Stat(ctx, chain); !errdefs.IsNotFound(err) {
		t.Errorf("snapshot of the removed image still there: %v", err)
	}
	ls, err := e.c.client.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.ID == PullLeaseID(stale) {
			t.Error("the abandoned pull's lease survived GC")
		}
	}

	// Once the workload is gone and nothing is kept, everything goes.
	if err := e.c.Remove(t.Context(), "web"); err != nil {
		t.Fatal(err)
	}
	removed, err = e.c.GC(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSet(removed, []string{echo.ref, fallback}) {
		t.Errorf("second GC removed %v", removed)
	}
	if names := e.images(t); len(names) != 0 {
		t.Errorf("images left: %v", names)
	}
}

func (e *env) images(t *testing.T) []string {
	t.Helper()
	imgs, err := e.c.client.ImageService().List(e.c.ns(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range imgs {
		out = append(out, i.Name)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
