package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// maxNodes bounds the YAML nodes one file may expand to (aliases included),
// so a small file cannot make the walk explode.
const maxNodes = 100_000

// document is one decoded file: its YAML tree, to place errors on lines, and
// the field paths whose values were dropped because they had the wrong type.
type document struct {
	file string
	root *yamlv3.Node // the top-level mapping; nil when the YAML did not parse
	bad  []fieldPath
}

// decodeFile decodes data, a file holding one YAML document, strictly into
// v (a pointer to Fleet, Workload, Group or Node). It walks the YAML tree
// against v's type, so that every unknown field, duplicate field and wrong
// type is reported with its line, and drops those values; the rest is
// decoded with sigs.k8s.io/yaml. ok is false when nothing could be decoded.
func decodeFile(file string, data []byte, v any, errs *errorList) (doc *document, ok bool) {
	doc = &document{file: file}
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var top yamlv3.Node
	if err := dec.Decode(&top); err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(file, 0, "", errors.New("file is empty"))
		} else {
			line, msg := yamlError(err)
			errs.add(file, line, "", errors.New(msg))
		}
		return doc, false
	}
	var next yamlv3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		line, msg := yamlError(err)
		errs.add(file, line, "", errors.New(msg))
		return doc, false
	default:
		errs.add(file, next.Line, "", errors.New("want one document per file, found another after ---"))
		return doc, false
	}
	root := &top
	if root.Kind == yamlv3.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yamlv3.MappingNode {
		errs.add(file, root.Line, "", fmt.Errorf("want a mapping with apiVersion, kind, metadata and spec, got %s", describe(root)))
		return doc, false
	}
	doc.root = root

	w := walker{file: file, errs: errs, budget: maxNodes}
	val, _ := w.value(root, reflect.TypeOf(v).Elem(), nil)
	doc.bad = w.bad
	if w.overflow {
		return doc, false
	}
	// A zero value takes val directly; anything assign is not sure of
	// (and a value that is not zero) goes through JSON, as it always did.
	if rv := reflect.ValueOf(v).Elem(); rv.IsZero() {
		if assign(val, rv) == nil {
			return doc, true
		}
		rv.SetZero()
	}
	b, err := json.Marshal(val)
	if err == nil {
		err = yaml.UnmarshalStrict(b, v)
	}
	if err != nil {
		errs.add(file, 0, "", fmt.Errorf("decode: %w", err))
		return doc, false
	}
	return doc, true
}

var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// parserProblems are the errors of go.yaml.in/yaml/v3's parser (as opposed
// to its scanner): it reports their line 0-based.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
}

// yamlError splits a go.yaml.in/yaml/v3 syntax error into line and message.
func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblems[m[2]] {
			line++
		}
		return line, "invalid YAML: " + m[2]
	}
	return 0, "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

var (
	durationType = reflect.TypeFor[Duration]()
	mirrorType   = reflect.TypeFor[Mirror]()
)

// walker checks a YAML tree against a Go type and converts it to the JSON
// value encoding/json expects for that type. Scalars bound for strings keep
// their literal text (1.10 stays "1.10", yes stays "yes").
type walker struct {
	file   string
	errs   *errorList
	bad    []fieldPath
	budget int
	// overflow is set once the budget ran out and that was reported.
	overflow bool
}

func (w *walker) fail(n *yamlv3.Node, p fieldPath, format string, args ...any) {
	w.bad = append(w.bad, p)
	w.errs.add(w.file, n.Line, p.String(), fmt.Errorf(format, args...))
}

// value converts n for type t. ok is false when n (or a part of it) was
// reported; the returned value then leaves the bad parts out.
func (w *walker) value(n *yamlv3.Node, t reflect.Type, p fieldPath) (v any, ok bool) {
	for n.Kind == yamlv3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if w.budget--; w.budget < 0 {
		if !w.overflow {
			w.overflow = true
			w.errs.add(w.file, n.Line, "", fmt.Errorf("document too large: more than %d values after expanding aliases", maxNodes))
		}
		return nil, false
	}
	if n.Kind == yamlv3.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!str" {
			w.fail(n, p, "want a duration such as \"30s\", got %s", describe(n))
			return nil, false
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			w.fail(n, p, "invalid duration %q: want a number with a unit such as 30s, 5m or 1h", n.Value)
			return nil, false
		}
		return n.Value, true
	case t == mirrorType:
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!str" {
			w.fail(n, p, "want a mirror such as \"mirror.local:5000/cache\", got %s", describe(n))
			return nil, false
		}
		if _, err := ParseMirror(n.Value); err != nil {
			w.fail(n, p, "%v", err)
			return nil, false
		}
		return n.Value, true
	case t.Kind() == reflect.Struct:
		return w.object(n, t, p)
	case t.Kind() == reflect.Map:
		return w.mapping(n, t, p)
	case t.Kind() == reflect.Slice:
		if n.Kind != yamlv3.SequenceNode {
			w.fail(n, p, "want a list, got %s", describe(n))
			return nil, false
		}
		out := make([]any, len(n.Content))
		ok := true
		for i, e := range n.Content {
			var eok bool
			out[i], eok = w.value(e, t.Elem(), p.index(i))
			ok = ok && eok
		}
		return out, ok
	case t.Kind() == reflect.String:
		if n.Kind != yamlv3.ScalarNode {
			w.fail(n, p, "want a string, got %s", describe(n))
			return nil, false
		}
		return n.Value, true
	case t.Kind() == reflect.Int:
		var i int64
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!int" {
			w.fail(n, p, "want an integer, got %s", describe(n))
			return nil, false
		}
		if err := n.Decode(&i); err != nil || int64(int(i)) != i {
			w.fail(n, p, "integer %s out of range", n.Value)
			return nil, false
		}
		return i, true
	case t.Kind() == reflect.Bool:
		var b bool
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			w.fail(n, p, "want true or false, got %s", describe(n))
			return nil, false
		}
		return b, true
	}
	w.fail(n, p, "unsupported field type %s", t)
	return nil, false
}

// object converts a mapping into a struct's JSON object, reporting unknown
// and duplicate fields.
func (w *walker) object(n *yamlv3.Node, t reflect.Type, p fieldPath) (any, bool) {
	if n.Kind != yamlv3.MappingNode {
		w.fail(n, p, "want a mapping, got %s", describe(n))
		return nil, false
	}
	fields := infoOf(t).types
	out := map[string]any{}
	seen := map[string]bool{}
	ok := true
	for _, kv := range pairs(n, &w.budget) {
		k, v := kv[0], kv[1]
		name := k.Value
		fp := p.key(name)
		if k.Kind != yamlv3.ScalarNode {
			w.fail(k, p, "want a field name, got %s", describe(k))
			ok = false
			continue
		}
		if seen[name] {
			w.fail(k, fp, "duplicate field")
			ok = false
			continue
		}
		seen[name] = true
		ft, known := fields[name]
		if !known {
			w.errs.add(w.file, k.Line, fp.String(), errors.New(unknownField(name, fields)))
			ok = false
			continue
		}
		val, vok := w.value(v, ft, fp)
		ok = ok && vok
		if val != nil {
			// A null or dropped field is left out: it keeps its zero value.
			out[name] = val
		}
	}
	return out, ok
}

// mapping converts a YAML mapping into a JSON object for a Go map.
func (w *walker) mapping(n *yamlv3.Node, t reflect.Type, p fieldPath) (any, bool) {
	if n.Kind != yamlv3.MappingNode {
		w.fail(n, p, "want a mapping, got %s", describe(n))
		return nil, false
	}
	out := map[string]any{}
	ok := true
	for _, kv := range pairs(n, &w.budget) {
		k, v := kv[0], kv[1]
		if k.Kind != yamlv3.ScalarNode {
			w.fail(k, p, "want a scalar key, got %s", describe(k))
			ok = false
			continue
		}
		fp := p.key(k.Value)
		if _, dup := out[k.Value]; dup {
			w.fail(k, fp, "duplicate key")
			ok = false
			continue
		}
		val, vok := w.value(v, t.Elem(), fp)
		ok = ok && vok
		out[k.Value] = val
	}
	return out, ok
}

// pairs lists a mapping's key/value pairs, expanding YAML merge keys (<<);
// explicit keys come first and win over merged ones. Each pair looked at
// costs one from budget; merges stop when it runs out.
func pairs(n *yamlv3.Node, budget *int) [][2]*yamlv3.Node {
	out := make([][2]*yamlv3.Node, 0, len(n.Content)/2)
	var merged [][2]*yamlv3.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if *budget--; *budget < 0 {
			break
		}
		if k.Kind == yamlv3.ScalarNode && k.Tag == "!!merge" {
			for v.Kind == yamlv3.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			srcs := []*yamlv3.Node{v}
			if v.Kind == yamlv3.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				for s.Kind == yamlv3.AliasNode && s.Alias != nil {
					s = s.Alias
				}
				if s.Kind == yamlv3.MappingNode {
					merged = append(merged, pairs(s, budget)...)
				}
			}
			continue
		}
		out = append(out, [2]*yamlv3.Node{k, v})
	}
	if len(merged) == 0 {
		return out
	}
	explicit := make(map[string]bool, len(out))
	for _, kv := range out {
		explicit[kv[0].Value] = true
	}
	seen := map[string]bool{}
	for _, kv := range merged {
		if k := kv[0].Value; !explicit[k] && !seen[k] {
			seen[k] = true
			out = append(out, kv)
		}
	}
	return out
}

// describe names a YAML value for an error message.
func describe(n *yamlv3.Node) string {
	switch n.Kind {
	case yamlv3.MappingNode:
		return "a mapping"
	case yamlv3.SequenceNode:
		return "a list"
	case yamlv3.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

// locate returns the line of the field at p in root, or of the deepest
// field on the way that exists; 0 when root is nil.
func locate(root *yamlv3.Node, p fieldPath) int {
	if root == nil {
		return 0
	}
	n, line := root, root.Line
	budget := maxNodes
	for _, s := range p {
		for n.Kind == yamlv3.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		next := (*yamlv3.Node)(nil)
		switch {
		case s.idx >= 0 && n.Kind == yamlv3.SequenceNode && s.idx < len(n.Content):
			next = n.Content[s.idx]
			line = next.Line
		case s.idx < 0 && n.Kind == yamlv3.MappingNode:
			for _, kv := range pairs(n, &budget) {
				if kv[0].Value == s.key {
					next, line = kv[1], kv[0].Line
					break
				}
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}
