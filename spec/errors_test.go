package spec_test

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

func TestErrorString(t *testing.T) {
	reason := errors.New("must be pinned by digest (@sha256:…)")
	for _, tt := range []struct {
		err  spec.Error
		want string
	}{
		{spec.Error{File: "workloads/detector.yaml", Line: 7, Field: "spec.image", Err: reason}, "workloads/detector.yaml:7: spec.image: must be pinned by digest (@sha256:…)"},
		{spec.Error{File: "workloads/detector.yaml", Field: "spec.image", Err: reason}, "workloads/detector.yaml: spec.image: must be pinned by digest (@sha256:…)"},
		{spec.Error{File: "fleet.yaml", Line: 3, Err: reason}, "fleet.yaml:3: must be pinned by digest (@sha256:…)"},
		{spec.Error{Field: "spec.image", Err: reason}, "spec.image: must be pinned by digest (@sha256:…)"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
		if !errors.Is(&tt.err, reason) {
			t.Errorf("errors.Is(%v, reason) = false", &tt.err)
		}
	}
}

// TestParseJoinsAllErrors checks that the errors of all files come back
// together, each a *spec.Error, in file order.
func TestParseJoinsAllErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"workloads/a.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: a}\nspec: {image: a:1}\n")},
		"groups/g.yaml":    {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec: {workloads: [b]}\n")},
	}
	_, err := spec.Parse(fsys)
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Parse error %T does not join errors", err)
	}
	var files []string
	for _, e := range j.Unwrap() {
		se, ok := e.(*spec.Error)
		if !ok {
			t.Fatalf("joined error %T, want *spec.Error", e)
		}
		files = append(files, se.File)
	}
	want := []string{"fleet.yaml", "groups/g.yaml", "workloads/a.yaml"}
	if len(files) != len(want) {
		t.Fatalf("errors in %v, want %v:\n%v", files, want, err)
	}
	for i := range want {
		if files[i] != want[i] {
			t.Errorf("errors in %v, want %v", files, want)
		}
	}
}

// TestParseIOError checks that a failing fs.FS is reported as itself, not
// as a spec error: the revision may be fine.
func TestParseIOError(t *testing.T) {
	_, err := spec.Parse(failFS{})
	var se *spec.Error
	if err == nil || errors.As(err, &se) || !errors.Is(err, errBroken) {
		t.Errorf("Parse(failing FS) = %v, want the FS's error and no *spec.Error", err)
	}
}

var errBroken = errors.New("blob missing")

type failFS struct{}

func (failFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: errBroken}
}
