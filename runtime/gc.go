package runtime

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/opencontainers/go-digest"
)

// GC removes the images in the agent's namespace that no container uses
// and whose digest is not in keep (image references pinned by digest: the
// desired images and every fallback, the last known good versions). The
// last deletion is synchronous, so containerd's garbage collector has freed
// their content and snapshots when GC returns. It also drops the leases of
// abandoned pulls of images not in keep, which hold partial downloads.
//
// It returns the names of the removed images. A reference in keep that is
// not pinned by digest is an error and nothing is removed. GC must not run
// while an image outside keep is being pulled.
func (c *Containerd) GC(ctx context.Context, keep []string) ([]string, error) {
	keepDigests := make(map[digest.Digest]bool, len(keep))
	for _, ref := range keep {
		_, dgst, err := pinned(ref)
		if err != nil {
			return nil, fmt.Errorf("gc: keep: %w", err)
		}
		keepDigests[dgst] = true
	}
	ctx = c.ns(ctx)
	ctrs, err := c.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: list containers: %w", err)
	}
	used := make(map[string]bool, len(ctrs))
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("gc: container %s: %w", ctr.ID(), err)
		}
		used[info.Image] = true
	}
	is := c.client.ImageService()
	imgs, err := is.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: list images: %w", err)
	}
	var drop []string
	for _, img := range imgs {
		if used[img.Name] || keepDigests[img.Target.Digest] || keepDigests[nameDigest(img.Name)] {
			continue
		}
		drop = append(drop, img.Name)
	}
	sort.Strings(drop)
	var removed []string
	for i, name := range drop {
		var opts []images.DeleteOpt
		if i == len(drop)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, name, opts...); ignoreNotFound(err) != nil {
			return removed, fmt.Errorf("gc: delete image %s: %w", name, err)
		}
		removed = append(removed, name)
		c.log.InfoContext(ctx, "removed image", logKeyRef, name)
	}
	if err := c.dropPullLeases(ctx, keepDigests); err != nil {
		return removed, err
	}
	return removed, nil
}

// dropPullLeases deletes the pull leases of images not in keep.
func (c *Containerd) dropPullLeases(ctx context.Context, keep map[digest.Digest]bool) error {
	ls := c.client.LeasesService()
	all, err := ls.List(ctx)
	if err != nil {
		return fmt.Errorf("gc: list leases: %w", err)
	}
	for _, l := range all {
		hex, ok := strings.CutPrefix(l.ID, "gitfleet-pull-")
		if !ok || keep[digest.NewDigestFromEncoded(digest.SHA256, hex)] {
			continue
		}
		if err := ls.Delete(ctx, l, leases.SynchronousDelete); ignoreNotFound(err) != nil {
			return fmt.Errorf("gc: delete lease %s: %w", l.ID, err)
		}
	}
	return nil
}

// nameDigest is the digest an image name is pinned by, or "".
func nameDigest(name string) digest.Digest {
	_, d, ok := strings.Cut(name, "@")
	if !ok {
		return ""
	}
	return digest.Digest(d)
}
