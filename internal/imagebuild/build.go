// Package imagebuild builds small OCI images from a Go main package without
// Docker: the package is compiled with CGO_ENABLED=0 into a static linux
// binary, packed into a deterministic layer with go-containerregistry, and
// pushed with Push. The demo and the tests use it to make real, runnable
// model-server images.
package imagebuild

import (
	"context"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options says what Build puts into an image.
type Options struct {
	// Package is the Go main package directory to build, relative to the
	// module root (e.g. "./examples/model-server") or absolute.
	Package string
	// Files are extra files placed in the image by absolute path, e.g.
	// "/model/weights.json". They go into a second layer, so images that
	// differ only in these files share the binary layer.
	Files map[string][]byte
	// Entrypoint defaults to ["/<binary name>"], the binary being named
	// after the package directory.
	Entrypoint []string
	Cmd        []string
	// Env defaults to a standard PATH when it sets none.
	Env []string
	// GOARCH defaults to runtime.GOARCH. The OS is always linux.
	GOARCH string
}

// epoch is the modification and creation time of everything Build makes,
// so the same input gives the same digest.
var epoch = time.Unix(0, 0).UTC()

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Build compiles opts.Package for linux/opts.GOARCH and returns an OCI image
// (OCI media types, gzip layers) holding the binary at /<name>, an empty
// /tmp, and opts.Files. The same input gives the same digest. The binary is
// cached per (package, GOARCH) for the life of the process.
func Build(ctx context.Context, opts Options) (v1.Image, error) {
	if opts.Package == "" {
		return nil, fmt.Errorf("imagebuild: no package")
	}
	goarch := opts.GOARCH
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	bin, err := buildBinary(ctx, opts.Package, goarch)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]entry{
		{name: "tmp/", mode: 0o1777},
		{name: bin.name, mode: 0o755, data: bin.data},
	})
	if err != nil {
		return nil, err
	}
	adds := []mutate.Addendum{{
		Layer:     binLayer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "imagebuild: go build " + bin.name},
	}}
	if len(opts.Files) > 0 {
		entries, err := fileEntries(opts.Files)
		if err != nil {
			return nil, err
		}
		filesLayer, err := layer(entries)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     filesLayer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "imagebuild: files"},
		})
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	cfg.OS = "linux"
	cfg.Architecture = goarch
	if goarch == "arm" {
		cfg.Variant = "v7"
	}
	cfg.Config.Entrypoint = opts.Entrypoint
	if len(cfg.Config.Entrypoint) == 0 {
		cfg.Config.Entrypoint = []string{"/" + bin.name}
	}
	cfg.Config.Cmd = opts.Cmd
	cfg.Config.Env = slices.Clone(opts.Env)
	if !slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		cfg.Config.Env = append([]string{defaultPath}, cfg.Config.Env...)
	}
	cfg.Config.WorkingDir = "/"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	return img, nil
}

// fileEntries turns opts.Files into sorted tar entries, with a directory
// entry for each parent directory.
func fileEntries(files map[string][]byte) ([]entry, error) {
	dirs := map[string]bool{}
	var out []entry
	for name, data := range files {
		clean := path.Clean("/" + name)
		if !path.IsAbs(name) || clean == "/" || clean != name {
			return nil, fmt.Errorf("imagebuild: file %q: want a clean absolute path", name)
		}
		rel := strings.TrimPrefix(clean, "/")
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		out = append(out, entry{name: rel, mode: 0o644, data: data})
	}
	for d := range dirs {
		out = append(out, entry{name: d + "/", mode: 0o755})
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}
