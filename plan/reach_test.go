package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// hashFS is a MapFS that knows content ids as a git tree does (a folder's
// id covers its entries' names and ids) and counts the node files read.
type hashFS struct {
	fstest.MapFS
	mu    sync.Mutex
	reads map[string]int
}

func newHashFS(m fstest.MapFS) *hashFS { return &hashFS{MapFS: m, reads: map[string]int{}} }

func (h *hashFS) FileHash(name string) (string, error) {
	fi, err := fs.Stat(h.MapFS, name)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	if fi.IsDir() {
		des, err := fs.ReadDir(h.MapFS, name)
		if err != nil {
			return "", err
		}
		for _, de := range des {
			id, err := h.FileHash(strings.TrimPrefix(name+"/"+de.Name(), "./"))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(sum, "%s %s\n", de.Name(), id)
		}
	} else {
		b, err := fs.ReadFile(h.MapFS, name)
		if err != nil {
			return "", err
		}
		sum.Write([]byte("blob "))
		sum.Write(b)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

func (h *hashFS) count(name string) {
	if strings.HasPrefix(name, "nodes/") {
		h.mu.Lock()
		h.reads[name]++
		h.mu.Unlock()
	}
}

func (h *hashFS) Open(name string) (fs.File, error) { h.count(name); return h.MapFS.Open(name) }
func (h *hashFS) ReadFile(name string) ([]byte, error) {
	h.count(name)
	return h.MapFS.ReadFile(name)
}

// TestUnreachedNodeFilesAreNotRead: when only node files change (nothing
// a selector, workload, secret or fleet.yaml holds), the plan reads no
// unchanged node file and equals the plan of a full parse of both
// revisions; a change that may reach unchanged nodes (a secret file a
// node names, a file in a folder of nodes/) still lists them as a full
// parse does.
func TestUnreachedNodeFilesAreNotRead(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	base, _ := fleet10k(200, "reg.example.com", d(1), d(2))
	recipient, encrypt := encrypter(t)
	node := func(name, body string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n%s", spec.APIVersion, name, body))}
	}
	base["secrets/s1.age"] = &fstest.MapFile{Data: encrypt("one")}
	base["nodes/s1.yaml"] = node("s1", fmt.Sprintf("  labels: {line: l3}\nspec:\n  ageRecipient: %s\n  overrides:\n    detector: {secrets: [{name: token, file: secrets/s1.age, env: TOKEN}]}\n", recipient))
	base["nodes/extra/notes.txt"] = &fstest.MapFile{Data: []byte("one\n")}
	moved := func(h fstest.MapFS) {
		for i := 0; i < 200; i += 9 {
			h[fmt.Sprintf("nodes/node-%05d.yaml", i)] = node(fmt.Sprintf("node-%05d", i), fmt.Sprintf("  labels: {line: l%d}\n", (i+1)%10))
		}
		delete(h, "nodes/node-00013.yaml")
		h["nodes/new.yml"] = node("new", "  labels: {line: l3}\n")
	}
	change := func(edits ...func(fstest.MapFS)) fstest.MapFS {
		h := maps.Clone(base)
		for _, e := range edits {
			e(h)
		}
		return h
	}
	cases := []struct {
		name   string
		head   fstest.MapFS
		noRead bool // no unchanged node file is read
	}{
		{"node files", change(moved), true},
		{"secret a node names", change(func(h fstest.MapFS) { h["secrets/s1.age"] = &fstest.MapFile{Data: encrypt("two")} }), false},
		{"node files and a file in nodes/extra", change(moved, func(h fstest.MapFS) { h["nodes/extra/notes.txt"] = &fstest.MapFile{Data: []byte("two\n")} }), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			bfs, hfs := newHashFS(base), newHashFS(c.head)
			got, err := Compute(ctx, Revision{Name: "b", FS: bfs}, Revision{Name: "h", FS: hfs}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := Compute(ctx, Revision{Name: "b", FS: newHashFS(base)}, Revision{Name: "h", FS: newHashFS(c.head)}, Options{parseAll: true})
			if err != nil {
				t.Fatal(err)
			}
			samePlan(t, got, want)
			if want.Summary.NodesChanged == 0 {
				t.Errorf("the case changes no node: %+v", want.Summary)
			}
			unchangedRead := 0
			for name := range hfs.reads {
				if f, ok := base[name]; ok && string(f.Data) == string(c.head[name].Data) {
					unchangedRead++
				}
			}
			if c.noRead && unchangedRead > 0 {
				t.Errorf("%d unchanged node files read at head, want none", unchangedRead)
			}
			if !c.noRead && unchangedRead == 0 {
				t.Errorf("no unchanged node file read at head: the change may reach them")
			}
		})
	}
}
