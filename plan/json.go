package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
)

// WriteJSON writes the plan as one indented JSON document: encoding/json's
// indented form (two spaces, no HTML escaping), the same bytes as one
// Encode of the plan. The nodes, most of the document, are encoded in
// chunks by one goroutine per processor and written in order, without
// holding the whole document twice (compact, then indented) as one Encode
// does: a group's change over 10,000 nodes lists thousands.
func (p *Plan) WriteJSON(w io.Writer) error {
	// The plan without its nodes; they go where "nodes": null is, the one
	// line of that key at the top level's indentation.
	rest := *p
	rest.Nodes = nil
	var top bytes.Buffer
	if err := encodeIndented(&top, "", &rest); err != nil {
		return err
	}
	const marker = "\n  \"nodes\": null,\n"
	before, after, ok := bytes.Cut(top.Bytes(), []byte(marker))
	if !ok {
		return errors.New("json: the plan's nodes have no place") // cannot happen: Plan has the field
	}
	if _, err := w.Write(append(before, "\n  \"nodes\": "...)); err != nil {
		return err
	}
	if err := writeNodes(w, p.Nodes); err != nil {
		return err
	}
	_, err := w.Write(append([]byte(",\n"), after...))
	return err
}

// writeNodes writes nodes as the JSON array at the second level of the
// plan's document.
func writeNodes(w io.Writer, nodes []NodePlan) error {
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
				for j := range nodes[i*chunk : min(len(nodes), (i+1)*chunk)] {
					if i > 0 || j > 0 {
						b.WriteByte(',')
					}
					b.WriteString("\n    ")
					if errs[i] = encodeIndented(b, "    ", &nodes[i*chunk+j]); errs[i] != nil {
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
