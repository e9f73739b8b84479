package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ErrNoSpace marks a pull refused because the image would not fit.
var ErrNoSpace = errors.New("not enough disk space")

// maxManifest bounds a manifest or index read to size an image.
const maxManifest = 4 << 20

// checkSpace refuses to pull name when its layers, stored and unpacked,
// would not fit on the filesystem of containerd's content store with
// Config.ReserveBytes to spare. It runs before anything is downloaded, so
// a node that is short of space keeps what it runs and says why.
func (c *Containerd) checkSpace(ctx context.Context, name string, res remotes.Resolver) error {
	layers, err := imageSize(ctx, res, name)
	if err != nil {
		return fmt.Errorf("size of %s: %w", name, err)
	}
	return c.checkFree(ctx, name, layers)
}

// checkFree refuses to store name, whose layers take layers bytes, when
// they would not fit stored and unpacked with Config.ReserveBytes to spare.
func (c *Containerd) checkFree(ctx context.Context, name string, layers int64) error {
	root, err := c.contentRoot(ctx)
	if err != nil || root == "" {
		c.log.DebugContext(ctx, "cannot find containerd's content root; skipping the disk space check", logKeyError, err)
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return fmt.Errorf("disk space of %s: %w", root, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize) // Bsize is int32 on 32-bit ARM
	// Compressed layers in the content store, plus the unpacked snapshot,
	// which is about as large again or more.
	need := 2*layers + c.cfg.ReserveBytes
	if free < need {
		return fmt.Errorf("%w to pull %s: its layers need about %s stored and unpacked, plus %s kept free; %s free on %s",
			ErrNoSpace, name, bytesText(2*layers), bytesText(c.cfg.ReserveBytes), bytesText(free), root)
	}
	return nil
}

// contentRoot asks containerd where its content store lives.
func (c *Containerd) contentRoot(ctx context.Context) (string, error) {
	resp, err := c.client.IntrospectionService().Plugins(ctx, []string{`type=="io.containerd.content.v1"`})
	if err != nil {
		return "", err
	}
	for _, p := range resp.Plugins {
		if root := p.Exports["root"]; root != "" {
			return root, nil
		}
	}
	return "", nil
}

// imageSize resolves name and adds up the compressed sizes of the layers
// of its manifest for this platform.
func imageSize(ctx context.Context, res remotes.Resolver, name string) (int64, error) {
	resolved, desc, err := res.Resolve(ctx, name)
	if err != nil {
		return 0, err
	}
	fetcher, err := res.Fetcher(ctx, resolved)
	if err != nil {
		return 0, err
	}
	for range 2 { // an index, then the platform's manifest
		b, err := fetch(ctx, fetcher, desc)
		if err != nil {
			return 0, err
		}
		switch desc.MediaType {
		case images.MediaTypeDockerSchema2ManifestList, ocispec.MediaTypeImageIndex:
			var idx ocispec.Index
			if err := json.Unmarshal(b, &idx); err != nil {
				return 0, err
			}
			match := platforms.Default()
			found := false
			for _, m := range idx.Manifests {
				if m.Platform == nil || match.Match(*m.Platform) {
					desc, found = m, true
					break
				}
			}
			if !found {
				return 0, fmt.Errorf("no manifest for %s in the index", platforms.DefaultString())
			}
		default:
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return 0, err
			}
			size := m.Config.Size
			for _, l := range m.Layers {
				size += l.Size
			}
			return size, nil
		}
	}
	return 0, errors.New("nested index")
}

func fetch(ctx context.Context, f remotes.Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > maxManifest {
		return nil, fmt.Errorf("manifest of %d bytes is too large", desc.Size)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxManifest))
}

// bytesText prints a byte count for people.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
