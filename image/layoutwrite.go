package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/durable"
)

// LayoutWriter fills an OCI image layout from ExportPlans, as fleetctl
// usb export writes a stick's gitfleet/images. Blobs are streamed (never
// held in memory), each written to a temp file, checked against its
// digest, then renamed; a blob already there and whole (checked by digest)
// is kept, so an interrupted export resumes. index.json is written by
// Close, through a temp file.
type LayoutWriter struct {
	dir     string
	entries []v1.Descriptor
}

// Progress is told of the bytes written as they are.
type Progress func(n int64)

// NewLayoutWriter opens or creates the layout in dir, keeping the entries
// of an index.json already there.
func NewLayoutWriter(dir string) (*LayoutWriter, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	w := &LayoutWriter{dir: dir}
	if err := writeFileAtomic(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var idx v1.IndexManifest
		if json.Unmarshal(b, &idx) == nil {
			w.entries = idx.Manifests
		}
	}
	return w, nil
}

// Has reports whether the layout holds the blob dgst whole: of size
// bytes and that digest (the file is read to check).
func (w *LayoutWriter) Has(dgst string, size int64) bool {
	f, err := os.Open(filepath.Join(w.dir, filepath.FromSlash(layoutBlobPath(dgst))))
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return "sha256:"+hex.EncodeToString(h.Sum(nil)) == dgst
}

// Write writes p's manifests and blobs, but the blobs skip names (a delta
// stick leaves out what its nodes hold), and adds p's index.json entries.
func (w *LayoutWriter) Write(ctx context.Context, p *ExportPlan, skip func(dgst string) bool, progress Progress) error {
	for _, b := range p.Blobs {
		d := b.Digest.String()
		if (skip != nil && skip(d)) || w.Has(d, b.Size) {
			continue
		}
		rc, err := p.st.openBlob(ctx, d)
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Ref, err)
		}
		err = w.put(d, b.Size, rc, progress)
		rc.Close()
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Ref, err)
		}
	}
	for _, m := range p.manifests {
		d := sha256Digest(m.raw)
		if !w.Has(d, int64(len(m.raw))) {
			if err := w.put(d, int64(len(m.raw)), bytes.NewReader(m.raw), progress); err != nil {
				return fmt.Errorf("export %s: %w", p.Ref, err)
			}
		}
		if m.entry != nil {
			w.add(*m.entry)
		}
	}
	return nil
}

// put streams a blob into the layout under its digest, checked.
func (w *LayoutWriter) put(dgst string, size int64, r io.Reader, progress Progress) error {
	final := filepath.Join(w.dir, filepath.FromSlash(layoutBlobPath(dgst)))
	tmp := final + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h, progressWriter(progress)), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != dgst || n != size {
			err = fmt.Errorf("blob %s: the registry sent %d bytes with digest %s", dgst, n, got)
		}
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(final))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write blob %s: %w", dgst, err)
	}
	return nil
}

// add lists an entry in index.json once (by digest and name).
func (w *LayoutWriter) add(d v1.Descriptor) {
	for _, e := range w.entries {
		if e.Digest == d.Digest && e.Annotations[RefNameAnnotation] == d.Annotations[RefNameAnnotation] {
			return
		}
	}
	w.entries = append(w.entries, d)
}

// Close writes index.json.
func (w *LayoutWriter) Close() error {
	b, err := json.MarshalIndent(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: w.entries}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(w.dir, "index.json"), b)
}

type progressWriter Progress

func (p progressWriter) Write(b []byte) (int, error) {
	if p != nil {
		p(int64(len(b)))
	}
	return len(b), nil
}

// writeFileAtomic replaces name with data through a synced temp file.
func writeFileAtomic(name string, data []byte) error {
	return durable.WriteFile(name, data, 0o644)
}
