package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gitfleet/gitfleet/fault"
)

// gcRef labels tie a manifest or index to the content it needs, so that
// containerd's garbage collector keeps them together once the lease ends.
const (
	gcRefConfig   = "containerd.io/gc.ref.content.config"
	gcRefLayer    = "containerd.io/gc.ref.content.l."
	gcRefManifest = "containerd.io/gc.ref.content.m."
)

// PullLayout makes the image ref (pinned by digest) available from the OCI
// image layout in dir, as on a USB stick, with no registry: the manifest
// (and index) are read from dir and checked against ref's digest, then
// every blob containerd does not hold yet is streamed from dir into its
// content store under its expected digest (a tampered blob fails there and
// is refused), then the image is recorded under ref's name and unpacked.
// Nothing of dir is read into memory but manifests; links leading out of
// dir are refused. A blob that is missing, of the wrong size or of the
// wrong digest is a refusal (fault.Refused); a read that fails (the stick
// pulled out) is transient, and what was stored so far is kept under the
// pull's lease for the next try. Nothing is recorded as an image until
// every blob is stored.
func (c *Containerd) PullLayout(ctx context.Context, ref, dir string) error {
	name, dgst, err := pinned(ref)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	ctx = c.ns(ctx)
	if img, err := c.client.GetImage(ctx, name); err == nil {
		if ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter); err == nil && ok {
			return nil
		}
	}
	start := time.Now()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	defer root.Close()
	l := layoutBlobs{root: root, name: name}
	target, plan, err := l.plan(dgst)
	if err != nil {
		return err
	}
	if err := c.checkFree(ctx, name, plan.size()); err != nil {
		return err
	}
	ls := c.client.LeasesService()
	lease := leases.Lease{ID: PullLeaseID(dgst)}
	if _, err := ls.Create(ctx, leases.WithID(lease.ID), leases.WithExpiration(pullLeaseExpiry)); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("import %s: lease: %w", name, err)
	}
	lctx := leases.WithLease(ctx, lease.ID)
	if err := c.storeLayout(lctx, l, plan); err != nil {
		if fault.ClassOf(err) == fault.Refused {
			// Nothing of a refused layout is kept.
			_ = ls.Delete(ctx, lease)
		}
		return err
	}
	img := images.Image{Name: name, Target: target}
	is := c.client.ImageService()
	if _, err := is.Create(lctx, img); errdefs.IsAlreadyExists(err) {
		_, err = is.Update(lctx, img, "target")
		if err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
	} else if err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	if err := containerd.NewImageWithPlatform(c.client, img, platforms.Default()).Unpack(lctx, c.cfg.Snapshotter); err != nil {
		return fmt.Errorf("import %s: unpack: %w", name, err)
	}
	if err := ls.Delete(ctx, lease); ignoreNotFound(err) != nil {
		return fmt.Errorf("import %s: delete lease: %w", name, err)
	}
	c.log.InfoContext(ctx, "imported image", logKeyRef, name, "layout", dir, logKeyDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// layoutPlan is what an import stores: the blobs (config and layers),
// then the manifests (the platform's manifest, then the index) with the
// labels that keep their blobs.
type layoutPlan struct {
	blobs     []ocispec.Descriptor
	manifests []layoutManifest
}

type layoutManifest struct {
	desc   ocispec.Descriptor
	raw    []byte
	labels map[string]string
}

func (p layoutPlan) size() int64 {
	var n int64
	for _, b := range p.blobs {
		n += b.Size
	}
	return n
}

// storeLayout writes the plan's blobs, then its manifests, into the
// content store.
func (c *Containerd) storeLayout(ctx context.Context, l layoutBlobs, p layoutPlan) error {
	cs := c.client.ContentStore()
	for _, d := range p.blobs {
		if err := l.store(ctx, cs, d); err != nil {
			return err
		}
	}
	for _, m := range p.manifests {
		if err := content.WriteBlob(ctx, cs, ingestRef(m.desc), bytes.NewReader(m.raw), m.desc, content.WithLabels(m.labels)); err != nil {
			return fmt.Errorf("import %s: manifest %s: %w", l.name, m.desc.Digest, err)
		}
		// The manifest may have been there before, without the labels.
		info := content.Info{Digest: m.desc.Digest, Labels: m.labels}
		var fields []string
		for k := range m.labels {
			fields = append(fields, "labels."+k)
		}
		if _, err := cs.Update(ctx, info, fields...); err != nil {
			return fmt.Errorf("import %s: label manifest %s: %w", l.name, m.desc.Digest, err)
		}
	}
	return nil
}

func ingestRef(d ocispec.Descriptor) string { return "gitfleet-import-" + d.Digest.Encoded() }

// layoutBlobs reads the blobs of an OCI image layout below root.
type layoutBlobs struct {
	root *os.Root
	name string // the image, for messages
}

// refuse marks a problem with the layout's content.
func (l layoutBlobs) refuse(format string, args ...any) error {
	return fault.Refuse(l.name, fmt.Errorf("import %s: %s", l.name, fmt.Sprintf(format, args...)))
}

func blobPath(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// manifest reads a manifest or index blob (capped) and checks its digest
// and, when size >= 0, its size.
func (l layoutBlobs) manifest(d digest.Digest, size int64) ([]byte, error) {
	if d.Algorithm() != digest.SHA256 || d.Validate() != nil {
		return nil, l.refuse("manifest digest %q: want sha256:<64 hex>", d)
	}
	f, err := l.open(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, l.refuse("manifest %s is not in the layout", d)
	}
	if err != nil {
		return nil, l.readError(d, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, l.readError(d, err)
	}
	if len(b) > maxManifest {
		return nil, l.refuse("manifest %s: more than %d bytes", d, maxManifest)
	}
	if got := digest.FromBytes(b); got != d || (size >= 0 && int64(len(b)) != size) {
		return nil, l.refuse("manifest %s: the layout holds %d bytes with digest %s", d, len(b), got)
	}
	return b, nil
}

// errLink is a symbolic link in a layout.
var errLink = errors.New("is a symbolic link")

// open opens a blob, refusing symbolic links on its path (a layout on a
// stick holds none; os.Root keeps any from leading out of it anyway).
func (l layoutBlobs) open(d digest.Digest) (*os.File, error) {
	p := ""
	for _, part := range strings.Split(blobPath(d), "/") {
		p = path.Join(p, part)
		fi, err := l.root.Lstat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: errLink}
		}
	}
	return l.root.Open(blobPath(d))
}

// readError is a failed read of the layout: a link is a refusal,
// anything else (a stick pulled out) transient.
func (l layoutBlobs) readError(d digest.Digest, err error) error {
	if errors.Is(err, errLink) {
		return l.refuse("%v: a layout must hold no links", err)
	}
	return fmt.Errorf("import %s: read %s: %w", l.name, blobPath(d), err)
}

// plan reads the image's manifest (through its index, for this platform)
// and lists what to store.
func (l layoutBlobs) plan(dgst digest.Digest) (ocispec.Descriptor, layoutPlan, error) {
	var p layoutPlan
	raw, err := l.manifest(dgst, -1)
	if err != nil {
		return ocispec.Descriptor{}, p, err
	}
	var head struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return ocispec.Descriptor{}, p, l.refuse("manifest %s: %v", dgst, err)
	}
	target := ocispec.Descriptor{MediaType: head.MediaType, Digest: dgst, Size: int64(len(raw))}
	mdesc, mraw := target, raw
	switch head.MediaType {
	case ocispec.MediaTypeImageIndex, images.MediaTypeDockerSchema2ManifestList:
		match := platforms.Default()
		i := -1
		for j, m := range head.Manifests {
			if m.Platform == nil || match.Match(*m.Platform) {
				i = j
				break
			}
		}
		if i < 0 {
			return ocispec.Descriptor{}, p, l.refuse("no manifest for %s in index %s", platforms.DefaultString(), dgst)
		}
		mdesc = head.Manifests[i]
		if mraw, err = l.manifest(mdesc.Digest, mdesc.Size); err != nil {
			return ocispec.Descriptor{}, p, err
		}
		defer func() {
			p.manifests = append(p.manifests, layoutManifest{desc: target, raw: raw,
				labels: map[string]string{fmt.Sprintf("%s%d", gcRefManifest, i): mdesc.Digest.String()}})
		}()
	case ocispec.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
	default:
		return ocispec.Descriptor{}, p, l.refuse("manifest %s has media type %q, not an image", dgst, head.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mraw, &m); err != nil {
		return ocispec.Descriptor{}, p, l.refuse("manifest %s: %v", mdesc.Digest, err)
	}
	labels := map[string]string{gcRefConfig: m.Config.Digest.String()}
	p.blobs = append(p.blobs, m.Config)
	for i, d := range m.Layers {
		labels[fmt.Sprintf("%s%d", gcRefLayer, i)] = d.Digest.String()
		p.blobs = append(p.blobs, d)
	}
	p.manifests = append(p.manifests, layoutManifest{desc: mdesc, raw: mraw, labels: labels})
	return target, p, nil
}

// store streams one blob into the content store unless it is there
// already (a delta stick leaves out what the node holds). containerd
// checks the digest as it commits; a mismatch is refused and its partial
// ingest dropped, a failed read keeps it for the next try to resume.
func (l layoutBlobs) store(ctx context.Context, cs content.Store, d ocispec.Descriptor) error {
	if d.Digest.Algorithm() != digest.SHA256 || d.Digest.Validate() != nil {
		return l.refuse("blob digest %q: want sha256:<64 hex>", d.Digest)
	}
	if _, err := cs.Info(ctx, d.Digest); err == nil {
		return nil
	}
	f, err := l.open(d.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return l.refuse("blob %s is neither in the layout nor on this node", d.Digest)
	}
	if err != nil {
		return l.readError(d.Digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return l.readError(d.Digest, err)
	}
	if fi.Size() != d.Size {
		return l.refuse("blob %s is %d bytes in the layout, the manifest says %d (truncated?)", d.Digest, fi.Size(), d.Size)
	}
	ref := ingestRef(d)
	err = content.WriteBlob(ctx, cs, ref, f, d)
	switch {
	case err == nil:
		return nil
	case errdefs.IsFailedPrecondition(err), errdefs.IsInvalidArgument(err):
		_ = cs.Abort(ctx, ref)
		return l.refuse("blob %s does not match its digest (tampered or damaged): %v", d.Digest, err)
	}
	return fmt.Errorf("import %s: blob %s: %w", l.name, d.Digest, err)
}
