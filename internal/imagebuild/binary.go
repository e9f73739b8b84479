package imagebuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

type binary struct {
	name string // file name in the image, from the package directory
	data []byte
}

type cacheKey struct{ dir, goarch string }

type cacheEntry struct {
	once sync.Once
	bin  binary
	err  error
}

// cache holds the binaries built by this process: tests build the same
// package many times and the source does not change under a running test.
var cache sync.Map // cacheKey → *cacheEntry

// buildBinary compiles pkg for linux/goarch, or returns the copy built
// earlier by this process. A failed build is not cached.
func buildBinary(ctx context.Context, pkg, goarch string) (binary, error) {
	dir := pkg
	if !filepath.IsAbs(dir) {
		root, err := ModuleRoot(ctx)
		if err != nil {
			return binary{}, err
		}
		dir = filepath.Join(root, dir)
	}
	dir = filepath.Clean(dir)
	key := cacheKey{dir, goarch}
	v, _ := cache.LoadOrStore(key, &cacheEntry{})
	e := v.(*cacheEntry)
	e.once.Do(func() { e.bin, e.err = goBuild(ctx, dir, goarch) })
	if e.err != nil {
		cache.CompareAndDelete(key, e)
	}
	return e.bin, e.err
}

func goBuild(ctx context.Context, dir, goarch string) (binary, error) {
	name := filepath.Base(dir)
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return binary{}, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return binary{}, fmt.Errorf("imagebuild: go build %s for linux/%s: %w: %s", dir, goarch, err, strings.TrimSpace(stderr.String()))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return binary{}, err
	}
	return binary{name: name, data: data}, nil
}

// ModuleRoot returns the directory of the main module's go.mod, as seen
// from the current directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("imagebuild: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("imagebuild: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}
