package jsonchunk_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/jsonchunk"
)

type item struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags,omitempty"`
	Note string            `json:"note"`
}

type doc struct {
	Title string `json:"title"`
	Items []item `json:"items"`
	After []int  `json:"after"`
}

// TestWriteIndentedIsOneEncode: the document written with its array in
// chunks is byte for byte one indented Encode of it (no HTML escaping),
// with no items, nil, one, and several chunks' worth.
func TestWriteIndentedIsOneEncode(t *testing.T) {
	many := make([]item, 700)
	for i := range many {
		many[i] = item{Name: fmt.Sprintf("n-%03d", i), Note: "<b> & \"q\"\n"}
		if i%3 == 0 {
			many[i].Tags = map[string]string{"z": "1", "a": fmt.Sprint(i)}
		}
	}
	for name, items := range map[string][]item{"nil": nil, "none": {}, "one": many[:1], "many": many} {
		t.Run(name, func(t *testing.T) {
			d := doc{Title: "<t>", Items: items, After: []int{1, 2}}
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(d); err != nil {
				t.Fatal(err)
			}
			rest := d
			rest.Items = nil
			if err := jsonchunk.WriteIndented(&got, &rest, "items", d.Items); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("WriteIndented:\n%s\none Encode:\n%s", got.Bytes(), want.Bytes())
			}
		})
	}
}

// TestWriteIndentedNeedsTheField: a key that is not a null field followed
// by another is an error naming it, and nothing is written.
func TestWriteIndentedNeedsTheField(t *testing.T) {
	var out bytes.Buffer
	err := jsonchunk.WriteIndented(&out, &doc{Title: "x"}, "after", []int{1})
	if err == nil || !strings.Contains(err.Error(), `"after"`) {
		t.Fatalf("err = %v, want one naming \"after\"", err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q before failing", out.String())
	}
}
