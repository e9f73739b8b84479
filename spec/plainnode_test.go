package spec_test

import (
	"crypto/sha256"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// parseNode parses a repo holding one node file with spec.Parse, without
// PlainNode.
func parseNode(t *testing.T, file string, data []byte) (spec.Node, bool, error) {
	defer spec.SetShortcuts(false)()
	repo, err := spec.Parse(fstest.MapFS{
		"fleet.yaml":    {Data: []byte("apiVersion: " + spec.APIVersion + "\nkind: Fleet\nmetadata: {name: t}\nspec:\n  hostPaths: [/var/lib/models]\n")},
		"nodes/" + file: {Data: data},
	})
	if err != nil {
		return spec.Node{}, false, err
	}
	n, ok := repo.Nodes[strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")]
	return n, ok, nil
}

// checkPlainNode: when PlainNode reads a file, spec.Parse reads it
// without an error as the same node.
func checkPlainNode(t *testing.T, file string, data []byte) bool {
	t.Helper()
	got, ok := spec.PlainNode(file, data)
	if !ok {
		return false
	}
	want, found, err := parseNode(t, file, data)
	if err != nil || !found {
		t.Fatalf("PlainNode read %s %q as %+v; spec.Parse: found %v, %v", file, data, got, found, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PlainNode read %s %q as %+v; spec.Parse as %+v", file, data, got, want)
	}
	return true
}

const nodeHead = "apiVersion: " + spec.APIVersion + "\nkind: Node\nmetadata:\n  name: n1\n"

// statusKeyLine is a status key as `fleetd --print-status-key` prints it.
var statusKeyLine = func() string {
	key := sha256.Sum256([]byte("plain"))
	return sshLine("ssh-ed25519", key[:]) + " fleetd@n1"
}()

func TestPlainNodeAsSpecParse(t *testing.T) {
	read := map[string]string{
		"flow":           nodeHead + "  labels: {site: plant-1, line: a}\n",
		"block":          nodeHead + "  labels:\n    site: plant-1\n    example.com/zone: Z.9\n",
		"no labels":      nodeHead,
		"no newline":     strings.TrimSuffix(nodeHead+"  labels: {a: b}\n", "\n"),
		"comments":       "# a node\n" + nodeHead + "  # labels next\n  labels:\n# between\n    site: x\n",
		"order":          "metadata:\n  labels: { line: b }\n  name: n1\nkind: Node\napiVersion: " + spec.APIVersion + "\n",
		"blank lines":    nodeHead + "\n  labels: {a: b}\n\n",
		"trailing space": nodeHead + "  labels: {a: b}   \n",
		"status key":     nodeHead + "  labels: {a: b}\nspec:\n  statusKey: " + statusKeyLine + "\n",
		"spec first":     "spec:\n  statusKey: " + statusKeyLine + "\n" + nodeHead,
		"key no comment": nodeHead + "spec:\n  # enrolled\n  statusKey: " + strings.TrimSuffix(statusKeyLine, " fleetd@n1") + "\n",
		"key ecdsa":      nodeHead + "spec:\n  statusKey: " + sshLine("ecdsa-sha2-nistp256", []byte("nistp256"), append([]byte{4}, make([]byte, 64)...)) + " a.b_c-d@e\n",
	}
	for name, data := range read {
		if !checkPlainNode(t, "n1.yaml", []byte(data)) {
			t.Errorf("%s: PlainNode did not read %q", name, data)
		}
	}
	if !checkPlainNode(t, "n1.yml", []byte(read["flow"])) {
		t.Error("PlainNode did not read n1.yml")
	}
	// Files spec.Parse refuses or reads otherwise, or that need more YAML
	// than PlainNode reads: each is left to spec.Parse.
	left := map[string]string{
		"quoted":             nodeHead + "  labels: {'line': \"a\"}\n",
		"anchor":             nodeHead + "  labels: &l {line: a}\n",
		"next line":          nodeHead + "  labels:\n    line:\n      a\n",
		"comment after":      nodeHead + "  labels: {line: a} # x\n",
		"bool value":         nodeHead + "  labels: {line: yes}\n",
		"bool key":           nodeHead + "  labels: {on: a}\n",
		"number":             nodeHead + "  labels: {line: 1}\n",
		"null labels":        nodeHead + "  labels:\n",
		"empty labels":       nodeHead + "  labels: {}\n",
		"trailing comma":     nodeHead + "  labels: {a: b,}\n",
		"dup label":          nodeHead + "  labels: {a: b, a: c}\n",
		"dup key":            nodeHead + "kind: Node\n",
		"spec":               nodeHead + "spec:\n  workloads: [w]\n",
		"other name":         strings.Replace(nodeHead, "name: n1", "name: n2", 1),
		"bad label":          nodeHead + "  labels: {a: -b}\n",
		"tab":                nodeHead + "  labels:\n\tline: a\n",
		"crlf":               strings.ReplaceAll(nodeHead, "\n", "\r\n"),
		"indent 3":           nodeHead + "  labels:\n     line: a\n",
		"continuation":       "apiVersion: " + spec.APIVersion + "\nkind: Node\n  x\nmetadata:\n  name: n1\n",
		"multiline flow":     nodeHead + "  labels: {a: b,\n    c: d}\n",
		"second document":    nodeHead + "---\n" + nodeHead,
		"no kind":            strings.Replace(nodeHead, "kind: Node\n", "", 1),
		"kind Group":         strings.Replace(nodeHead, "kind: Node", "kind: Group", 1),
		"flow metadata":      "apiVersion: " + spec.APIVersion + "\nkind: Node\nmetadata: {name: n1}\n",
		"colon in value":     nodeHead + "  labels: {a: b:c}\n",
		"value on name line": nodeHead + "  labels:\n    a: b\n      c\n",
		"non-ASCII":          nodeHead + "  labels: {a: é}\n",
		"null spec":          nodeHead + "spec:\n",
		"spec workloads":     nodeHead + "spec:\n  statusKey: " + statusKeyLine + "\n  workloads: [w]\n",
		"two status keys":    nodeHead + "spec:\n  statusKey: " + statusKeyLine + "\n  statusKey: " + statusKeyLine + "\n",
		"two specs":          nodeHead + "spec:\n  statusKey: " + statusKeyLine + "\nspec:\n  statusKey: " + statusKeyLine + "\n",
		"flow spec":          nodeHead + "spec: {statusKey: " + statusKeyLine + "}\n",
		"quoted key":         nodeHead + "spec:\n  statusKey: \"" + statusKeyLine + "\"\n",
		"bad key":            nodeHead + "spec:\n  statusKey: ssh-ed25519 AAAA\n",
		"key on next line":   nodeHead + "spec:\n  statusKey:\n    " + statusKeyLine + "\n",
		"key continued":      nodeHead + "spec:\n  statusKey: " + statusKeyLine + "\n    more\n",
		"key comment after":  nodeHead + "spec:\n  statusKey: " + statusKeyLine + " # x\n",
		"key two spaces":     nodeHead + "spec:\n  statusKey: " + strings.Replace(statusKeyLine, " ", "  ", 1) + "\n",
		"key indent 4":       nodeHead + "spec:\n    statusKey: " + statusKeyLine + "\n",
		"spec labels":        nodeHead + "spec:\n  statusKey: " + statusKeyLine + "\n  labels: {a: b}\n",
		"spec then labels":   nodeHead + "  labels:\nspec:\n  statusKey: " + statusKeyLine + "\n",
	}
	for name, data := range left {
		if checkPlainNode(t, "n1.yaml", []byte(data)) {
			t.Errorf("%s: PlainNode read %q", name, data)
		}
	}
	for _, file := range []string{"N1.yaml", "n1.json", "yes.yaml", "-n.yaml"} {
		if checkPlainNode(t, file, []byte(strings.Replace(nodeHead, "n1", strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".json"), 1))) {
			t.Errorf("PlainNode read the file %s", file)
		}
	}
}

// TestPlainNodeGenerated puts together node files from lines and bits of
// lines that YAML reads in many ways (quotes, anchors, booleans, numbers,
// odd indentation, comments, duplicates) and checks every file PlainNode
// reads against spec.Parse.
func TestPlainNodeGenerated(t *testing.T) {
	keys := []string{"a", "line", "site", "example.com/zone", "x_y", "Yes", "n", "1", "'q'", "\"d\"", "-a", "a-", "A.b", "on", "k:v", "&x a", "*x", "a b", "", "null", "~", "ex.com/a/b", "Ab9"}
	vals := []string{"b", "plant-1", "l3", "true", "No", "0x1F", "1e3", ".inf", "'a'", "\"b\"", "", "a b", "a#b", "a #b", "{}", "[a]", "Z", "a.b_c-d", "b-", "-b", "é", "|", ">", "!!str a", "*x", "&x a", "~", "OFF", "y"}
	seps := []string{": ", ":", " : ", ":  ", ": \t"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	pair := func() string { return pick(keys) + pick(seps) + pick(vals) }
	lines := []func() string{
		func() string { return "apiVersion: " + spec.APIVersion },
		func() string { return "apiVersion: v1" },
		func() string { return "kind: Node" },
		func() string { return "kind: " + pick(vals) },
		func() string { return "metadata:" },
		func() string { return "metadata: {name: n1}" },
		func() string { return "  name: n1" },
		func() string { return "  name: " + pick(vals) },
		func() string { return "  name: 'n1'" },
		func() string { return "  labels:" },
		func() string { return "  labels: {" + pair() + ", " + pair() + "}" },
		func() string { return "  labels: {" + pair() + "}" },
		func() string { return "  labels: &a {" + pair() + "}" },
		func() string { return "    " + pair() },
		func() string { return "     " + pair() },
		func() string { return "   " + pair() },
		func() string { return "      " + pick(vals) },
		func() string { return pair() },
		func() string { return "# " + pair() },
		func() string { return "" },
		func() string { return "---" },
		func() string { return "spec: {}" },
		func() string { return "spec:" },
		func() string { return "  workloads: [a]" },
		func() string { return "  statusKey: " + statusKeyLine },
		func() string { return "  statusKey: " + pick(vals) },
		func() string {
			return "  statusKey: " + statusKeyLine + pick([]string{" x", ":", " #", "  ", "=", " a:b", "'"})
		},
		func() string { return "    " + statusKeyLine },
	}
	// A usual file, then edits.
	base := []string{"apiVersion: " + spec.APIVersion, "kind: Node", "metadata:", "  name: n1", "  labels:", "    line: a", "spec:", "  statusKey: " + statusKeyLine}
	read := 0
	for i := range 20000 {
		f := append([]string(nil), base...)
		for range rng.IntN(4) {
			j := rng.IntN(len(f) + 1)
			switch rng.IntN(3) {
			case 0:
				f = append(f[:j], append([]string{lines[rng.IntN(len(lines))]()}, f[j:]...)...)
			case 1:
				if j < len(f) {
					f = append(f[:j], f[j+1:]...)
				}
			default:
				if j < len(f) {
					f[j] = lines[rng.IntN(len(lines))]()
				}
			}
		}
		data := strings.Join(f, "\n")
		if rng.IntN(2) == 0 {
			data += "\n"
		}
		file := "n1.yaml"
		if i%5 == 0 {
			file = "n1.yml"
		}
		if checkPlainNode(t, file, []byte(data)) {
			read++
		}
	}
	// Not vacuous: a good share of the files is read.
	if read < 2000 {
		t.Errorf("PlainNode read %d of 20000 files", read)
	}
	t.Logf("PlainNode read %d of 20000 files", read)
}

func FuzzPlainNode(f *testing.F) {
	f.Add("n1.yaml", []byte(nodeHead+"  labels: {site: plant-1, line: a}\n"))
	f.Add("n1.yaml", []byte(nodeHead+"  labels:\n    a: b\n    c: d\n"))
	f.Add("n1.yml", []byte(nodeHead))
	f.Add("n1.yaml", []byte(nodeHead+"  labels: {a: yes}\n"))
	f.Add("n1.yaml", []byte(nodeHead+"spec:\n  statusKey: "+statusKeyLine+"\n"))
	f.Fuzz(func(t *testing.T, file string, data []byte) {
		if strings.Contains(file, "/") || file == "" {
			return
		}
		checkPlainNode(t, file, data)
	})
}
