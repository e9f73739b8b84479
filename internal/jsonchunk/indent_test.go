package jsonchunk

import (
	"bytes"
	"encoding/json"
	"testing"
)

// indent gives json.Indent's bytes for compact JSON as encoding/json
// writes it: escapes and quotes in strings, structural characters inside
// strings, empty and nested objects and arrays, numbers, literals.
func TestIndentIsJSONIndent(t *testing.T) {
	values := []any{
		nil, true, 12.5, "", `a "quoted" \ back\slash, {not: [structure]}`,
		[]any{}, map[string]any{}, []any{[]any{}, map[string]any{}, []any{1, []any{2}}},
		map[string]any{"k": map[string]any{"a": []string{"x", "y"}, "b": nil, "c": "é\u2028<&>\t"}, "": 0},
		struct {
			Name   string            `json:"name"`
			Fields []map[string]int  `json:"fields"`
			Env    map[string]string `json:"env,omitempty"`
		}{"node-1", []map[string]int{{"a": 1}, {}}, map[string]string{"LOG": "debug", "Q": `"\"`}},
	}
	for _, prefix := range []string{"", "    "} {
		for _, v := range values {
			checkIndent(t, v, prefix)
		}
	}
}

func checkIndent(t *testing.T, v any, prefix string) {
	t.Helper()
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	ind := json.NewEncoder(&want)
	ind.SetEscapeHTML(false)
	ind.SetIndent(prefix, "  ")
	if err := ind.Encode(v); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := encodeIndented(&got, prefix, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("%s with prefix %q:\ngot  %q\nwant %q", compact.Bytes(), prefix, got.Bytes(), want.Bytes())
	}
}

// Any JSON document, decoded and encoded again as encoding/json writes it,
// is indented as json.Indent indents it.
func FuzzIndent(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c\"}"},[],{}],"d":null}`, `"x\\"`, `[[[]]]`, `{"\u00e9":"\n"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		checkIndent(t, v, "")
		checkIndent(t, v, "    ")
	})
}
