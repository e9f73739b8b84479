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

// maxPart bounds the room a chunk's buffer is given from its first item.
const maxPart = 1 << 20

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
			var e encoder
			for i := range next {
				b := &parts[i]
				some := items[i*chunk : min(len(items), (i+1)*chunk)]
				for j := range some {
					if i > 0 || j > 0 {
						b.WriteByte(',')
					}
					b.WriteString("\n    ")
					if errs[i] = e.encodeIndented(b, "    ", &some[j]); errs[i] != nil {
						break
					}
					b.Truncate(b.Len() - 1) // Encode's newline
					if j == 0 {
						// Room for the chunk's items, if they are about
						// as long as its first (up to maxPart): its
						// buffer is not grown by doubling.
						b.Grow(min(b.Len()*(len(some)-1)*5/4, maxPart))
					}
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

// encodeIndented writes v as Encode does with SetIndent(prefix, "  ") and
// no HTML escaping. encoding/json indents its compact encoding with its
// full JSON scanner, about two thirds of the time of an indented Encode;
// the compact encoding is known to be valid, so indent only needs to tell
// strings from structure.
func encodeIndented(b *bytes.Buffer, prefix string, v any) error {
	var e encoder
	return e.encodeIndented(b, prefix, v)
}

// encoder is encodeIndented's, kept for the next value: one goroutine
// encoding many items reuses its buffer.
type encoder struct {
	compact bytes.Buffer
	enc     *json.Encoder
}

func (e *encoder) encodeIndented(b *bytes.Buffer, prefix string, v any) error {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.compact)
		e.enc.SetEscapeHTML(false)
	}
	e.compact.Reset()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	src := e.compact.Bytes()
	b.Grow(len(src) + len(src)/2)
	b.Write(indent(b.AvailableBuffer(), src[:len(src)-1], prefix, "  "))
	b.WriteByte('\n')
	return nil
}

// indent appends src, compact JSON as encoding/json writes it (no space
// outside strings), to dst in json.Indent's form: each element of a
// non-empty object or array on a line of its own, beginning with prefix
// and one indent per level; "[]" and "{}" as they are; ": " after a key.
func indent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			// A string, copied whole up to its closing quote.
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			dst = append(dst, src[i:min(j+1, len(src))]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
