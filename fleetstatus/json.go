package fleetstatus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
)

// WriteJSON writes the fleet as one indented JSON document (the schema is
// in docs/status.md): encoding/json's indented form (two spaces, no HTML
// escaping), written a part at a time. The nodes, most of the document
// (about 1.5 KB each), are encoded in chunks by one goroutine per
// processor and written in order, so the output is the same as encoding
// the fleet at once, without holding the whole document twice (compact,
// then indented) as one Encode does.
func (f *Fleet) WriteJSON(w io.Writer) error {
	// The fleet without its nodes; they go where "nodes": null is, the one
	// line of that key at the top level's indentation.
	rest := *f
	rest.Nodes = nil
	var top bytes.Buffer
	if err := encodeIndented(&top, "", &rest); err != nil {
		return err
	}
	const marker = "\n  \"nodes\": null,\n"
	before, after, ok := bytes.Cut(top.Bytes(), []byte(marker))
	if !ok {
		return errors.New("json: the fleet's nodes have no place") // cannot happen: Fleet has the field
	}
	if _, err := w.Write(append(before, "\n  \"nodes\": "...)); err != nil {
		return err
	}
	if err := writeNodes(w, f.Nodes); err != nil {
		return err
	}
	_, err := w.Write(append([]byte(",\n"), after...))
	return err
}

// writeNodes writes nodes as the JSON array at the second level of the
// fleet's document.
func writeNodes(w io.Writer, nodes []Node) error {
	if nodes == nil {
		_, err := io.WriteString(w, "null")
		return err
	}
	if len(nodes) == 0 {
		_, err := io.WriteString(w, "[]")
		return err
	}
	const chunk = 256
	parts := make([]bytes.Buffer, (len(nodes)+chunk-1)/chunk)
	errs := make([]error, len(parts))
	done := make([]chan struct{}, len(parts))
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int, len(parts))
	for i := range parts {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range min(runtime.GOMAXPROCS(0), len(parts)) {
		wg.Go(func() {
			for i := range next {
				b := &parts[i]
				for j, n := range nodes[i*chunk : min(len(nodes), (i+1)*chunk)] {
					if i > 0 || j > 0 {
						b.WriteByte(',')
					}
					b.WriteString("\n    ")
					if errs[i] = encodeIndented(b, "    ", &n); errs[i] != nil {
						break
					}
					b.Truncate(b.Len() - 1) // Encode's newline
				}
				close(done[i])
			}
		})
	}
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i := range parts {
		<-done[i]
		if errs[i] != nil {
			return errs[i]
		}
		if _, err := w.Write(parts[i].Bytes()); err != nil {
			return err
		}
		parts[i] = bytes.Buffer{}
	}
	_, err := io.WriteString(w, "\n  ]")
	return err
}

// encodeIndented writes v as encoding/json's indented form with prefix on
// every line but the first, and a newline.
func encodeIndented(w io.Writer, prefix string, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
