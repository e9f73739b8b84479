package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a fleet repo, placed by file, line and field path:
//
//	workloads/detector.yaml:7: spec.image: must be pinned by digest (@sha256:…)
//
// Parse and Resolve return every Error of a revision at once, joined with
// errors.Join; use errors.As to find one, or iterate the joined error's
// Unwrap() []error to list them.
type Error struct {
	File  string // slash-separated path from the repo root
	Line  int    // 1-based; 0 when unknown
	Field string // field path such as spec.mounts[0].source; empty for the whole file
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying reason.
func (e *Error) Unwrap() error { return e.Err }

// path is a field path inside one document, such as spec.mounts[0].source.
type fieldPath []seg

// seg is one step of a path: a mapping key, or a sequence index when idx >= 0.
type seg struct {
	key string
	idx int
}

func (p fieldPath) key(k string) fieldPath { return append(p[:len(p):len(p)], seg{key: k, idx: -1}) }
func (p fieldPath) index(i int) fieldPath  { return append(p[:len(p):len(p)], seg{idx: i}) }

// join appends q to p.
func (p fieldPath) join(q fieldPath) fieldPath { return append(p[:len(p):len(p)], q...) }

func (p fieldPath) String() string {
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.idx >= 0:
			fmt.Fprintf(&b, "[%d]", s.idx)
		case plainKey(s.key):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			fmt.Fprintf(&b, "[%q]", s.key)
		}
	}
	return b.String()
}

// plainKey reports whether k can be written after a dot in a field path.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// errorList collects the errors of one revision.
type errorList []*Error

func (l *errorList) add(file string, line int, field string, err error) {
	*l = append(*l, &Error{File: file, Line: line, Field: field, Err: err})
}

// err sorts the list by file, line and field and joins it; nil when empty.
func (l errorList) err() error {
	if len(l) == 0 {
		return nil
	}
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Field, b.Field),
		)
	})
	l = slices.CompactFunc(l, func(a, b *Error) bool { return a.Error() == b.Error() })
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}
