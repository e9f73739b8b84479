package spec_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// shortcutNodes are node-file bodies (after the name line) of every kind
// the shortcuts meet: what PlainNode reads and what it leaves to the
// decoder, valid or not. LINE is replaced by a digit.
var shortcutNodes = []string{
	"  labels: {line: lLINE, site: plant-1}\n",
	"  labels:\n    line: lLINE\n    example.com/zone: z\n",
	"",
	"  labels: {'line': \"lLINE\"}\n",
	"  labels: &a {line: lLINE}\n",
	"  labels: {line: yes}\n",
	"  labels: {line: -x}\n",
	"  labels: {line: lLINE} # comment\n",
	"  labels:\n",
	"spec:\n  workloads: [w0]\n",
	"spec:\n  workloads: [nope, w0, w0]\n",
	"spec:\n  overrides:\n    w0: {env: {A: b}}\n",
	"spec:\n  overrides:\n    nope: {env: {A: b}}\n",
	"spec:\n  overrides:\n    w0:\n      secrets: [{name: s, file: secrets/missing.age, env: S}]\n",
	"spec:\n  bogus: 1\n",
	"  labels: {line: [a}\n",
	"---\nkind: Node\n",
}

// shortcutFleet generates a fleet of n node files from rng: mostly plain
// ones, the rest drawn from shortcutNodes, with a few a.yaml+a.yml pairs,
// empty files, wrong names and flow-style metadata; a tenth of the files
// are extra (when not nil), NAME in it replaced by the node's name.
func shortcutFleet(rng *rand.Rand, n int, extra []byte, valid bool) fstest.MapFS {
	fsys := fstest.MapFS{
		"fleet.yaml":        {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Fleet\nmetadata: {name: t}\nspec:\n  hostPaths: [/var/lib/models]\n")},
		"workloads/w0.yaml": {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Workload\nmetadata: {name: w0}\nspec:\n  image: reg.example.com/m@sha256:" + fmt.Sprintf("%064d", 1) + "\n")},
		"groups/g0.yaml":    {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Group\nmetadata: {name: g0}\nspec:\n  selector: {matchLabels: {line: l1}}\n  workloads: [w0]\n")},
	}
	for i := range n {
		name := fmt.Sprintf("node-%04d", i)
		body := shortcutNodes[0]
		switch {
		case valid:
			body = shortcutNodes[[]int{0, 1, 2, 3, 4, 9, 11}[rng.IntN(7)]]
		case rng.IntN(3) == 0:
			body = shortcutNodes[rng.IntN(len(shortcutNodes))]
		}
		head := fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n", spec.APIVersion, name)
		switch k := rng.IntN(40); {
		case valid && k > 0:
		case k == 0 && !strings.HasPrefix(body, "  "):
			head = fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata: {name: %s}\n", spec.APIVersion, name)
		case k == 1:
			head = fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: other\n", spec.APIVersion)
		case k == 2:
			head, body = "", ""
		}
		data := []byte(head + strings.ReplaceAll(body, "LINE", fmt.Sprint(rng.IntN(3))))
		if extra != nil && rng.IntN(10) == 0 {
			data = bytes.ReplaceAll(extra, []byte("NAME"), []byte(name))
		}
		file := "nodes/" + name + ".yaml"
		if rng.IntN(10) == 0 {
			file = "nodes/" + name + ".yml"
		}
		fsys[file] = &fstest.MapFile{Data: data}
		if !valid && rng.IntN(50) == 0 {
			fsys["nodes/"+name+".yml"] = &fstest.MapFile{Data: data}
		}
	}
	return fsys
}

// checkShortcuts: Parse, ParseForNode+ParseNodes and Resolve of fsys give
// the same repos, nodes and errors with the shortcuts as without.
func checkShortcuts(t *testing.T, fsys fstest.MapFS) (parsed bool) {
	t.Helper()
	type result struct {
		repo           *spec.Repo
		err            string
		nodes          map[string]spec.Node
		broken, nodErr string
		resolved       string
	}
	str := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	run := func(on bool) result {
		defer spec.SetShortcuts(on)()
		var r result
		repo, err := spec.Parse(fsys)
		r.repo, r.err = repo, str(err)
		if repo != nil {
			for _, name := range []string{"node-0001", "node-0002"} {
				if _, ok := repo.Nodes[name]; ok {
					res, err := repo.Resolve(name, nil)
					r.resolved += fmt.Sprintf("%+v %v\n", res, err)
				}
			}
		}
		own, err := spec.ParseForNode(fsys, "node-0001")
		if err == nil {
			nodes, broken, err := own.ParseNodes(fsys)
			r.nodes, r.broken, r.nodErr = nodes, str(broken), str(err)
		} else {
			r.nodErr = str(err)
		}
		return r
	}
	want, got := run(false), run(true)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with the shortcuts:\n%+v\nwithout:\n%+v", got, want)
	}
	return want.err == ""
}

func TestParseShortcutsAsPlainParse(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := []int{3, 64, 65, 300}[seed%4]
		if checkShortcuts(t, shortcutFleet(rng, n, nil, false)) && n > 3 {
			t.Errorf("seed %d: a fleet with invalid files parsed", seed)
		}
		if !checkShortcuts(t, shortcutFleet(rng, n, nil, true)) {
			t.Errorf("seed %d: a fleet of valid files did not parse", seed)
		}
	}
}

func FuzzParseShortcuts(f *testing.F) {
	f.Add(uint64(1), []byte("apiVersion: "+spec.APIVersion+"\nkind: Node\nmetadata:\n  name: NAME\n  labels: {a: b}\n"))
	f.Add(uint64(2), []byte("apiVersion: "+spec.APIVersion+"\nkind: Node\nmetadata:\n  name: NAME\nspec:\n  workloads: [w0]\n"))
	f.Add(uint64(3), []byte("kind: Node\n"))
	f.Fuzz(func(t *testing.T, seed uint64, extra []byte) {
		rng := rand.New(rand.NewPCG(seed, 7))
		checkShortcuts(t, shortcutFleet(rng, 70+int(seed%40), extra, seed%2 == 0))
	})
}
