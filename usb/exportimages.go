package usb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
)

// deltaOf reads the targets' last reports: what each applied, and the
// image blobs every one of them holds (those of the images its report
// says it runs). A target without a report holds nothing.
func deltaOf(ctx context.Context, cfg ExportConfig, need *needs) (*Delta, error) {
	loc := cfg.Repo
	if !cfg.StatusRepo.IsZero() {
		loc = cfg.StatusRepo
	}
	reports, err := source.ReadReports(ctx, loc)
	if err != nil {
		return nil, err
	}
	d := &Delta{Have: map[string]string{}}
	opts := cfg.ImageOptions
	opts.Registries = need.registries
	sizer, err := image.NewSizer(opts, "")
	if err != nil {
		return nil, err
	}
	var common map[string]bool // blobs every target holds
	for _, n := range need.targets {
		rep := reports[n]
		held := map[string]bool{}
		if rep.Err == nil && rep.Status != nil {
			if rev := rep.Status.Status.AppliedRevision; revisionRE().MatchString(rev) {
				d.Have[n] = rev
			}
			for _, w := range rep.Status.Status.Workloads {
				layers, err := sizer.Layers(ctx, w.Image, need.registries)
				if err != nil {
					cfg.Log.Warn("cannot read the layers of an image a node runs; they go on the stick", "node", n, "image", w.Image, "err", err)
					continue
				}
				for _, l := range layers {
					held[l.Digest] = true
				}
			}
		}
		if common == nil {
			common = held
			continue
		}
		for b := range common {
			if !held[b] {
				delete(common, b)
			}
		}
	}
	for b := range common {
		d.OmittedBlobs = append(d.OmittedBlobs, b)
	}
	sort.Strings(d.OmittedBlobs)
	return d, nil
}

// writeImages plans every image, checks the space, and writes them with
// their signatures into gitfleet/images. It returns the manifest's images
// and the files written.
func writeImages(ctx context.Context, cfg ExportConfig, dir string, need *needs, delta *Delta) ([]Image, []File, error) {
	opts := cfg.ImageOptions
	opts.Registries = need.registries
	omit := map[string]bool{}
	if delta != nil {
		for _, b := range delta.OmittedBlobs {
			omit[b] = true
		}
	}
	skip := func(d string) bool { return omit[d] }
	refs := make([]string, 0, len(need.images))
	for r := range need.images {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	layout := filepath.Join(dir, ImagesDir)
	w, err := image.NewLayoutWriter(layout)
	if err != nil {
		return nil, nil, err
	}
	var plans []*image.ExportPlan
	var total int64
	for _, r := range refs {
		p, err := image.PlanExport(ctx, r, opts)
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, p)
		total += p.Size(func(d string) bool { return skip(d) || present(layout, d) })
	}
	if err := checkSpace(dir, total); err != nil {
		return nil, nil, err
	}
	var done int64
	progress := func(n int64) {
		done += n
		if cfg.Progress != nil {
			cfg.Progress(done, total)
		}
	}
	var images []Image
	var files []File
	for _, p := range plans {
		if err := w.Write(ctx, p, skip, progress); err != nil {
			return nil, nil, err
		}
		images = append(images, Image{Ref: p.Ref, Digest: p.Digest, Signatures: p.Signatures, Nodes: need.images[p.Ref]})
		for _, b := range p.Written(skip) {
			files = append(files, File{Path: ImagesDir + "/blobs/sha256/" + strings.TrimPrefix(b.Digest, "sha256:"), Size: b.Size, Digest: b.Digest})
		}
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	meta, err := listFiles(dir, ImagesDir+"/index.json", ImagesDir+"/oci-layout")
	if err != nil {
		return nil, nil, err
	}
	return images, dedupe(append(files, meta...)), nil
}

// present reports whether the layout holds a file of that blob (its
// digest is checked when written, not for the space estimate).
func present(layout, dgst string) bool {
	_, err := os.Stat(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(dgst, "sha256:")))
	return err == nil
}

// checkSpace refuses an export of need bytes that would not fit.
func checkSpace(dir string, need int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space on %s: %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	// Some room for the Git objects, index.json and the manifest.
	if margin := int64(1 << 20); need+margin > free {
		return fmt.Errorf("%w: the images need %d MiB, %d MiB free on %s", ErrNoSpace, (need+margin)>>20, free>>20, dir)
	}
	return nil
}

// listFiles lists, with size and sha256, the files named (relative to
// dir), every file in those that are folders.
func listFiles(dir string, names ...string) ([]File, error) {
	var out []File
	for _, n := range names {
		err := filepath.WalkDir(filepath.Join(dir, filepath.FromSlash(n)), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "tmp_") {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			size, err := io.Copy(h, f)
			if err != nil {
				return err
			}
			out = append(out, File{Path: path.Clean(filepath.ToSlash(rel)), Size: size, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func dedupe(files []File) []File {
	seen := map[string]bool{}
	out := files[:0]
	for _, f := range files {
		if !seen[f.Path] {
			seen[f.Path] = true
			out = append(out, f)
		}
	}
	return out
}
