package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/fstest"
)

// TestWriteJSONAsOneEncode: the plan written in chunks is byte for byte
// one indented Encode of it (no HTML escaping), with nodes across several
// chunks, none, or one with errors.
func TestWriteJSONAsOneEncode(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	base, head := fleet10k(1000, "reg.example.com", d(1), d(2))
	many := fstest.MapFS{}
	for k, v := range head {
		many[k] = v
	}
	many["workloads/detector.yaml"] = &fstest.MapFile{Data: bytes.Replace(base["workloads/detector.yaml"].Data, []byte("LOG_LEVEL: info"), []byte("LOG_LEVEL: \"<b> & 'c'\""), 1)}
	cases := map[string]fstest.MapFS{"every node": many, "the group change": head, "nothing": base}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Compute(context.Background(), Revision{Name: "b", FS: base}, Revision{Name: "h", FS: h}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p.Errors = append(p.Errors, Finding{File: "nodes/x.yaml", Message: "a <finding> & more"})
			if len(p.Nodes) > 0 {
				p.Nodes[len(p.Nodes)-1].Errors = p.Errors
			}
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("WriteJSON:\n%s\none Encode:\n%s", got.Bytes(), want.Bytes())
			}
			if name == "every node" && len(p.Nodes) < 600 {
				t.Errorf("%d nodes change, want more than two chunks", len(p.Nodes))
			}
		})
	}
}
