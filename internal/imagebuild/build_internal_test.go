package imagebuild

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGoBuildReproducible checks that two uncached builds give the same
// bytes, so the same input gives the same digest in any process.
func TestGoBuildReproducible(t *testing.T) {
	root, err := ModuleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "model-server")
	a, err := goBuild(context.Background(), dir, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	b, err := goBuild(context.Background(), dir, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if a.name != "model-server" {
		t.Errorf("binary name = %q, want model-server", a.name)
	}
	if !bytes.Equal(a.data, b.data) {
		t.Error("two builds of the same package differ")
	}
}

func TestBuildBinaryCachesAndForgetsFailures(t *testing.T) {
	ctx := context.Background()
	a, err := buildBinary(ctx, "./examples/model-server", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := ModuleRoot(ctx)
	b, err := buildBinary(ctx, filepath.Join(root, "examples/model-server"), runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if &a.data[0] != &b.data[0] {
		t.Error("relative and absolute package paths were built twice")
	}

	missing := filepath.Join(t.TempDir(), "nothing")
	if _, err := buildBinary(ctx, missing, runtime.GOARCH); err == nil {
		t.Fatal("build of a missing package succeeded")
	}
	if _, ok := cache.Load(cacheKey{missing, runtime.GOARCH}); ok {
		t.Error("failed build stayed cached")
	}
}

func TestFileEntries(t *testing.T) {
	got, err := fileEntries(map[string][]byte{
		"/model/weights.json": []byte("{}"),
		"/etc/app/conf":       []byte("x"),
		"/top":                nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.name)
	}
	want := "etc/ etc/app/ etc/app/conf model/ model/weights.json top"
	if strings.Join(names, " ") != want {
		t.Errorf("entries = %q, want %q", names, want)
	}
	for _, bad := range []string{"model/w.json", "/model/../w.json", "/", "/a//b", "/a/"} {
		if _, err := fileEntries(map[string][]byte{bad: nil}); err == nil {
			t.Errorf("fileEntries(%q) succeeded, want error", bad)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"127.0.0.1:5000/a/b:latest", true},
		{"127.0.0.2/a", true},
		{"localhost:5000/a", true},
		{"localhost/a", true},
		{"[::1]:5000/a", true},
		{"registry.example.com/a", false},
		{"10.0.0.1:5000/a", false},
		{"ubuntu", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.ref); got != tt.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}
