package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestPullRefusedWithoutDiskSpace(t *testing.T) {
	e := setup(t)
	root, err := e.c.contentRoot(e.c.ns(t.Context()))
	if err != nil || !strings.HasPrefix(root, e.d.Root) {
		t.Fatalf("content root = %q, %v; want one under the daemon's root %s", root, err, e.d.Root)
	}
	// Ask for more free space than any disk here has.
	e.c.cfg.ReserveBytes = 1 << 60
	err = e.c.Pull(t.Context(), source(t, echo.ref, registries()))
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), echo.ref) || !strings.Contains(err.Error(), "free on "+root) {
		t.Fatalf("Pull = %v; want ErrNoSpace naming the image and the filesystem", err)
	}
	if _, err := e.c.client.GetImage(e.c.ns(t.Context()), echo.ref); err == nil {
		t.Error("the image was pulled although it did not fit")
	}
	// With the default reserve it fits.
	e.c.cfg.ReserveBytes = DefaultReserveBytes
	e.pull(t)
}

func TestImageSizeCountsLayers(t *testing.T) {
	name, _, _ := pinned(echo.ref)
	res, err := resolver(name, source(t, echo.ref, registries()), Config{})
	if err != nil {
		t.Fatal(err)
	}
	size, err := imageSize(t.Context(), res, name)
	if err != nil {
		t.Fatal(err)
	}
	if size < 1<<20 {
		t.Errorf("size of the echo image = %d bytes; want its layers (over 1 MiB of Go binary)", size)
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 2048: "2.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
