// Package jsonchunk writes a JSON document whose bulk is one array at its
// top level (a plan's or a fleet's nodes) in encoding/json's indented form
// (two spaces, no HTML escaping), the same bytes as one Encode of the
// whole document. The array's items are encoded in chunks by one
// goroutine per processor and written in order, so the document is never
// held twice (compact, then indented) as one Encode holds it.
package jsonchunk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// chunk is how many items one goroutine encodes at a time.
const chunk = 256

// WriteIndented writes doc, whose top-level field key must encode as null
// and not be its last field, with items in that field's place.
func WriteIndented[T any](w io.Writer, doc any, key string, items []T) error {
	var top bytes.Buffer
	if err := encodeIndented(&top, "", doc); err != nil {
		return err
	}
	marker := fmt.Sprintf("\n  %q: null,\n", key)
	before, after, ok := bytes.Cut(top.Bytes(), []byte(marker))
	if !ok {
		return fmt.Errorf("json: the document has no field %q set to null before another field", key)
	}
	if _, err := w.Write(append(before, fmt.Sprintf("\n  %q: ", key)...)); err != nil {
		return err
	}
	if err := writeArray(w, items); err != nil {
		return err
	}
	_, err := w.Write(append([]byte(",\n"), after...))
	return err
}

// writeArray writes items as a JSON array at the document's second level.
func writeArray[T any](w io.Writer, items []T) error {
	if items == nil {
		_, err := io.WriteString(w, "null")
		return err
	}
	if len(items) == 0 {
		_, err := io.WriteString(w, "[]")
		return err
	}
	parts := make([]bytes.Buffer, (len(items)+chunk-1)/chunk)
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
				for j := range items[i*chunk : min(len(items), (i+1)*chunk)] {
					if i > 0 || j > 0 {
						b.WriteByte(',')
					}
					b.WriteString("\n    ")
					if errs[i] = encodeIndented(b, "    ", &items[i*chunk+j]); errs[i] != nil {
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
