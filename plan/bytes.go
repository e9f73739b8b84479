package plan

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/spec"
)

// Layer is one layer of an image manifest.
type Layer = image.Layer

// Manifests reads the layers of an image from its registry. image.Sizer is
// the implementation, reading each image where fleetd would verify and
// pull it (mirrors included).
type Manifests interface {
	// Layers returns the layers of the image ref ("host/repo@sha256:…")
	// for the platform the implementation was made for, read where
	// registries (fleet.yaml's spec.registries) send it.
	Layers(ctx context.Context, ref string, registries []spec.Registry) ([]Layer, error)
}

// imageKey identifies an image by its digest (its repository does not
// change its layers).
func imageKey(ref string) string {
	if d := digestOf(ref); d != "" {
		return d
	}
	return ref
}

type layersResult struct {
	layers []Layer
	err    error
}

// countBytes fills in the bytes each node downloads: the layers of its new
// images that none of the images it ran at base has, each layer once.
func countBytes(ctx context.Context, p *Plan, opts Options, registries []spec.Registry) error {
	if opts.Manifests == nil {
		p.Notes = append(p.Notes, "Download sizes: not computed (no registry access).")
		for i := range p.Nodes {
			p.Nodes[i].Unknown = slices.Clone(p.Nodes[i].newImages)
		}
		return nil
	}
	refs := map[string]string{} // key → a ref to fetch it by
	users := map[string]int{}   // key of new images → nodes downloading them
	for _, n := range p.Nodes {
		if len(n.newImages) == 0 {
			continue
		}
		for _, r := range append(slices.Clone(n.newImages), n.baseImages...) {
			if _, ok := refs[imageKey(r)]; !ok {
				refs[imageKey(r)] = r
			}
		}
		seen := map[string]bool{}
		for _, r := range n.newImages {
			if k := imageKey(r); !seen[k] {
				seen[k] = true
				users[k]++
			}
		}
	}
	results := fetchAll(ctx, opts, refs, registries)
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		have := map[string]bool{}
		for _, r := range n.baseImages {
			for _, l := range results[imageKey(r)].layers {
				have[l.Digest] = true
			}
		}
		for _, r := range n.newImages {
			res := results[imageKey(r)]
			if res.err != nil {
				n.Unknown = append(n.Unknown, r)
				continue
			}
			for _, l := range res.layers {
				if !have[l.Digest] {
					have[l.Digest] = true
					n.Bytes += l.Size
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(users)) {
		res := results[k]
		info := ImageInfo{Ref: refs[k], Nodes: users[k]}
		if res.err != nil {
			info.Error = res.err.Error()
		}
		for _, l := range res.layers {
			info.Bytes += l.Size
		}
		p.Images = append(p.Images, info)
	}
	slices.SortFunc(p.Images, func(a, b ImageInfo) int {
		if a.Ref < b.Ref {
			return -1
		}
		if a.Ref > b.Ref {
			return 1
		}
		return 0
	})
	return nil
}

// fetchAll reads the layers of every image in refs (by key), at most
// opts.Concurrency at once.
func fetchAll(ctx context.Context, opts Options, refs map[string]string, registries []spec.Registry) map[string]layersResult {
	out := make(map[string]layersResult, len(refs))
	var mu sync.Mutex
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for _, k := range slices.Sorted(maps.Keys(refs)) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			layers, err := opts.Manifests.Layers(ctx, refs[k], registries)
			mu.Lock()
			out[k] = layersResult{layers: layers, err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
