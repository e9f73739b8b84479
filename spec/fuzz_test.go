package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/gitfleet/gitfleet/spec"
)

// FuzzParse feeds fleet repos, written as txtar archives, to Parse,
// ParseForNode and Resolve. Whatever the input, they must not panic, every
// error must be a placed *spec.Error, and a resolved workload's Hash must
// be HashSpec of its Spec. Seeds are the golden archives in testdata/.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ar := txtar.Parse(data)
		fsys := archiveFS(ar)
		repo, err := spec.Parse(fsys)
		checkSpecErrors(t, err)
		for _, file := range ar.Files {
			node, ok := strings.CutPrefix(file.Name, "nodes/")
			if !ok {
				continue
			}
			node = strings.TrimSuffix(strings.TrimSuffix(node, ".yaml"), ".yml")
			one, err := spec.ParseForNode(fsys, node)
			if err != nil {
				var se *spec.Error
				if errors.As(err, &se) {
					checkSpecErrors(t, err)
				}
				continue
			}
			resolve(t, one, node)
			if repo != nil {
				resolve(t, repo, node)
			}
		}
	})
}

func resolve(t *testing.T, repo *spec.Repo, node string) {
	ds, err := repo.Resolve(node, map[string]string{"line": "a"})
	checkSpecErrors(t, err)
	for _, d := range ds {
		if h := spec.HashSpec(d.Spec); d.Hash != h {
			t.Errorf("%s: Hash %s, HashSpec %s", d.Name, d.Hash, h)
		}
	}
}

func checkSpecErrors(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range leaves(err) {
		se, ok := e.(*spec.Error)
		if !ok {
			t.Fatalf("error %q is a %T, want *spec.Error", e, e)
		}
		if se.File == "" || se.Err == nil || se.Line < 0 {
			t.Fatalf("error %#v is not placed", se)
		}
	}
}
