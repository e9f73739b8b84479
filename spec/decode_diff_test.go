package spec

import (
	"os"
	"reflect"
	"strconv"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/gitfleet/gitfleet/internal/yamlcorpus"
)

// yamlCorpus returns every YAML document of the repository: its .yaml and
// .yml files, the YAML files of its txtar archives, and the Go string
// literals of its tests that hold an apiVersion or kind.
func yamlCorpus(t testing.TB) map[string][]byte {
	out, err := yamlcorpus.Documents("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("found %d YAML documents in the repository, want at least 100", len(out))
	}
	return out
}

// diffTarget is a type beside the four kinds that has what they lack:
// pointers to strings, a map of structs, lists of durations and mirrors,
// as programs decode their own configuration (fleetd's --config).
type diffTarget struct {
	Name      *string             `json:"name,omitempty"`
	Labels    map[string]string   `json:"labels,omitempty"`
	Interval  Duration            `json:"interval,omitempty"`
	Timeouts  []Duration          `json:"timeouts,omitempty"`
	Limits    map[string]Duration `json:"limits,omitempty"`
	Mirrors   []Mirror            `json:"mirrors,omitempty"`
	Registry  *Registry           `json:"registry,omitempty"`
	Mounts    map[string]Mount    `json:"mounts,omitempty"`
	Ports     []int               `json:"ports,omitempty"`
	Enabled   *bool               `json:"enabled,omitempty"`
	Lists     [][]string          `json:"lists,omitempty"`
	Spec      *WorkloadSpec       `json:"spec,omitempty"`
	TypeMeta  `json:",inline"`
	Untouched string `json:"-"`
}

// diffTypes are the types decodeFile is compared on.
var diffTypes = []func() any{
	func() any { return new(Fleet) },
	func() any { return new(Workload) },
	func() any { return new(Group) },
	func() any { return new(Node) },
	func() any { return new(diffTarget) },
}

// sameDecode decodes data into each type with decodeFile and with the
// reference, and fails unless both report the same errors (file, line,
// field, message), the same dropped fields and, when decoding succeeded,
// the same value.
func sameDecode(t *testing.T, name string, data []byte) {
	t.Helper()
	for _, newV := range diffTypes {
		var gotErrs, wantErrs errorList
		got, want := newV(), newV()
		gotDoc, gotOK := decodeFile("f.yaml", data, got, &gotErrs)
		wantDoc, wantOK := refDecodeFile("f.yaml", data, want, &wantErrs)
		typ := reflect.TypeOf(got).Elem().Name()
		if gotOK != wantOK {
			t.Fatalf("%s as %s: ok %v, reference %v (errors %v / %v)", name, typ, gotOK, wantOK, gotErrs.err(), wantErrs.err())
		}
		if g, w := describeErrors(gotErrs), describeErrors(wantErrs); !reflect.DeepEqual(g, w) {
			t.Fatalf("%s as %s: errors\n%q\nreference\n%q", name, typ, g, w)
		}
		if !reflect.DeepEqual(gotDoc.bad, wantDoc.bad) || (gotDoc.root == nil) != (wantDoc.root == nil) {
			t.Fatalf("%s as %s: dropped %v, reference %v", name, typ, gotDoc.bad, wantDoc.bad)
		}
		if gotOK && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s as %s:\ngot       %#v\nreference %#v", name, typ, got, want)
		}
	}
}

func describeErrors(l errorList) []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.File + "\x00" + strconv.Itoa(e.Line) + "\x00" + e.Field + "\x00" + e.Err.Error()
	}
	return out
}

// TestDecodeFileSameAsReference compares decodeFile with the path through
// JSON it replaced on every YAML document of the repository.
func TestDecodeFileSameAsReference(t *testing.T) {
	for name, data := range yamlCorpus(t) {
		sameDecode(t, name, data)
	}
}

// TestDecodeFileDirect checks that the example fleet repo's files and the
// benchmark's generated ones are stored directly, not through JSON.
func TestDecodeFileDirect(t *testing.T) {
	files := map[string][]byte{}
	for _, f := range benchFiles {
		data, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		files[f.file] = data
	}
	for _, f := range benchGenerated {
		files[f.name] = []byte(f.data)
	}
	targets := map[string]func() any{"Fleet": diffTypes[0], "Workload": diffTypes[1], "Group": diffTypes[2], "Node": diffTypes[3]}
	for name, data := range files {
		var errs errorList
		var root yamlv3.Node
		if err := yamlv3.Unmarshal(data, &root); err != nil {
			t.Fatal(err)
		}
		var meta TypeMeta
		if err := root.Decode(&meta); err != nil {
			t.Fatal(err)
		}
		kind := meta.Kind
		v := targets[kind]()
		w := walker{file: name, errs: &errs, budget: maxNodes}
		val, _ := w.value(root.Content[0], reflect.TypeOf(v).Elem(), nil)
		if err := assign(val, reflect.ValueOf(v).Elem()); err != nil || len(errs) > 0 {
			t.Errorf("%s: assign: %v, errors %v", name, err, errs.err())
		}
	}
}

// FuzzDecodeFile compares decodeFile with the path through JSON it
// replaced, on each type, for any input. Seeds are the repository's YAML.
func FuzzDecodeFile(f *testing.F) {
	for _, data := range yamlCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, "input", data)
	})
}

type oddInner struct {
	Kind string `json:"kind"`
}

// oddTarget has what assign leaves to the path through JSON: an
// unexported embedded struct, a tag encoding/json does not take as a name.
type oddTarget struct {
	oddInner `json:",inline"`
	//lint:ignore SA5008 a tag encoding/json does not take as a name is the point
	Quoted string `json:"a\"b"`
}

// TestDecodeFileOddTypes checks that types with encoding/json rules assign
// does not copy take the path through JSON, and decode as before.
func TestDecodeFileOddTypes(t *testing.T) {
	if infoOf(reflect.TypeFor[oddTarget]()).ok {
		t.Error("assign would fill oddTarget")
	}
	if !infoOf(reflect.TypeFor[Workload]()).ok {
		t.Error("assign would not fill Workload")
	}
	for _, s := range []string{"kind: Node\n", "a\"b: y\n", "Quoted: z\n"} {
		var gotErrs, wantErrs errorList
		var got, want oddTarget
		_, gotOK := decodeFile("f.yaml", []byte(s), &got, &gotErrs)
		_, wantOK := refDecodeFile("f.yaml", []byte(s), &want, &wantErrs)
		if gotOK != wantOK || !reflect.DeepEqual(describeErrors(gotErrs), describeErrors(wantErrs)) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v %v %+v, reference %v %v %+v", s, gotOK, gotErrs.err(), got, wantOK, wantErrs.err(), want)
		}
	}
}
