package plan

import (
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gitfleet/gitfleet/spec"
)

// resolved is one node's Resolve result. class is not 0 when the result
// is shared by every node of a class (see resolveAll): two results of one
// repo with the same class are equal.
type resolved struct {
	desired []spec.Desired
	err     error
	class   int
}

// resolveAll resolves nodes (with no local labels) on every CPU.
//
// A node whose file lists no spec.workloads and no spec.overrides runs
// what the groups selecting it give it: its name appears only in the
// errors of Resolve, its labels only choose the groups. Such nodes are
// classed by the set of groups selecting them and each class is resolved
// once, for one of its nodes; its result is every node's when it has no
// error (an error names the node, so each node of that class is resolved
// on its own). The desired lists are shared: callers only read them.
// Without share every node is resolved on its own.
func resolveAll(repo *spec.Repo, nodes []string, share bool) map[string]resolved {
	groups := slices.Sorted(maps.Keys(repo.Groups))
	classOf := map[string]int{} // by the selecting groups' indexes
	class := make([]int, len(nodes))
	var first []int // per class (from 1), the index of its first node
	var key strings.Builder
	for i, n := range nodes {
		node := repo.Nodes[n]
		if !share || len(node.Spec.Workloads) > 0 || len(node.Spec.Overrides) > 0 {
			continue
		}
		key.Reset()
		for j, g := range groups {
			if repo.Groups[g].Spec.Selector.Matches(node.Metadata.Labels) {
				key.WriteString(strconv.Itoa(j))
				key.WriteByte(',')
			}
		}
		c, ok := classOf[key.String()]
		if !ok {
			first = append(first, i)
			c = len(first)
			classOf[key.String()] = c
		}
		class[i] = c
	}
	out := make([]resolved, len(nodes))
	// First every node of no class and the first of each class, then the
	// other nodes of a class whose result is an error.
	var todo []int
	for i := range nodes {
		if class[i] == 0 || first[class[i]-1] == i {
			todo = append(todo, i)
		}
	}
	resolveEach(repo, nodes, todo, out)
	todo = todo[:0]
	for i, c := range class {
		if c == 0 || first[c-1] == i {
			continue
		}
		if r := out[first[c-1]]; r.err != nil {
			todo = append(todo, i)
		} else {
			out[i] = r
		}
	}
	resolveEach(repo, nodes, todo, out)
	m := make(map[string]resolved, len(nodes))
	for i, n := range nodes {
		if out[i].err == nil && class[i] != 0 {
			out[i].class = class[i]
		}
		m[n] = out[i]
	}
	return m
}

// resolveEach resolves nodes[i] into out[i] for each i of todo, on every
// CPU.
func resolveEach(repo *spec.Repo, nodes []string, todo []int, out []resolved) {
	workers := min(runtime.GOMAXPROCS(0), len(todo)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(todo); k += workers {
				i := todo[k]
				d, err := repo.Resolve(nodes[i], nil)
				out[i] = resolved{desired: d, err: err}
			}
		})
	}
	wg.Wait()
}
