package image

import (
	"crypto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestExportToLayoutThenVerifyOffline signs an image in both formats,
// exports it with its signatures into a layout, and verifies it there as
// a node does: same keys, no registry. A refreshed export writes nothing
// again; a delta leaves out the blobs it is told the node holds.
func TestExportToLayoutThenVerifyOffline(t *testing.T) {
	ctx := ctxT(t)
	host := ocitest.NewRegistry(t)
	a, b := newECDSA(t), newECDSA(t)
	ref := signedBoth(ctx, t, host, "models/offline", a, b)
	p, err := PlanExport(ctx, ref, optsFor(host))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Signatures) != 2 || p.Digest != digestOfRef(t, ref).DigestStr() {
		t.Fatalf("plan: digest %s, signatures %v; want %s and 2", p.Digest, p.Signatures, digestOfRef(t, ref).DigestStr())
	}
	dir := filepath.Join(t.TempDir(), "images")
	var written int64
	count := func(n int64) { written += n }
	w, err := NewLayoutWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, p, nil, count); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if written != p.Size(nil) {
		t.Errorf("wrote %d bytes, plan says %d", written, p.Size(nil))
	}

	st, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := map[string][]byte{"a.pub": pub(t, a), "b.pub": pub(t, b)}
	v := NewLayoutVerifier(nil, st)
	src, err := v.VerifyImage(ctx, ref, nil, keys, 2)
	if err != nil {
		t.Fatalf("verify in the layout: %v", err)
	}
	if src.Layout != dir || src.Digest != p.Digest || src.Host != "" {
		t.Errorf("source %+v, want the layout %s", src, dir)
	}
	other := newECDSA(t)
	if _, err := v.VerifyImage(ctx, ref, nil, map[string][]byte{"other.pub": pub(t, other)}, 1); fault.ClassOf(err) != fault.Refused {
		t.Errorf("verify with an untrusted key: %v, want refused", err)
	}

	// Again: everything is there and whole, nothing is written.
	written = 0
	w, _ = NewLayoutWriter(dir)
	if err := w.Write(ctx, p, nil, count); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if written != 0 {
		t.Errorf("refresh wrote %d bytes, want 0", written)
	}
	// A damaged blob is found and written again.
	layer := p.Blobs[len(p.Blobs)-1].Digest.String()
	file := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))
	data, _ := os.ReadFile(file)
	data[0] ^= 0xff
	os.WriteFile(file, data, 0o644)
	written = 0
	w, _ = NewLayoutWriter(dir)
	if err := w.Write(ctx, p, nil, count); err != nil {
		t.Fatal(err)
	}
	if !w.Has(layer, int64(len(data))) || written != int64(len(data)) {
		t.Errorf("damaged blob: rewrote %d bytes, want %d", written, len(data))
	}

	// A delta: the layer is held by the node, left out.
	delta := filepath.Join(t.TempDir(), "images")
	dw, _ := NewLayoutWriter(delta)
	skip := func(d string) bool { return d == layer }
	if err := dw.Write(ctx, p, skip, nil); err != nil {
		t.Fatal(err)
	}
	dw.Close()
	if dw.Has(layer, int64(len(data))) || p.Size(skip) >= p.Size(nil) {
		t.Error("delta layout holds the skipped layer")
	}
	ents, _ := os.ReadDir(filepath.Join(delta, "blobs", "sha256"))
	if slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), ".part") }) {
		t.Error("temp files left in the layout")
	}
}

func pub(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	b, err := MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
