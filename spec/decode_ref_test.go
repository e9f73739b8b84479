package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// refDecodeFile is decodeFile as it was before it stored values directly,
// the reference the differential tests compare it with; refWalker and
// refPairs are the walker and pairs of then. It decodes data, a file
// holding one YAML document, strictly into v (a pointer to Fleet,
// Workload, Group or Node). It walks the YAML tree
// against v's type, so that every unknown field, duplicate field and wrong
// type is reported with its line, and drops those values; the rest is
// decoded with sigs.k8s.io/yaml. ok is false when nothing could be decoded.
func refDecodeFile(file string, data []byte, v any, errs *errorList) (doc *document, ok bool) {
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

	w := refWalker{file: file, errs: errs, budget: maxNodes}
	val, _ := w.value(root, reflect.TypeOf(v).Elem(), nil)
	doc.bad = w.bad
	if w.overflow {
		return doc, false
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

// refWalker checks a YAML tree against a Go type and converts it to the JSON
// value encoding/json expects for that type. Scalars bound for strings keep
// their literal text (1.10 stays "1.10", yes stays "yes").
type refWalker struct {
	file   string
	errs   *errorList
	bad    []fieldPath
	budget int
	// overflow is set once the budget ran out and that was reported.
	overflow bool
}

func (w *refWalker) fail(n *yamlv3.Node, p fieldPath, format string, args ...any) {
	w.bad = append(w.bad, p)
	w.errs.add(w.file, n.Line, p.String(), fmt.Errorf(format, args...))
}

// value converts n for type t. ok is false when n (or a part of it) was
// reported; the returned value then leaves the bad parts out.
func (w *refWalker) value(n *yamlv3.Node, t reflect.Type, p fieldPath) (v any, ok bool) {
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
func (w *refWalker) object(n *yamlv3.Node, t reflect.Type, p fieldPath) (any, bool) {
	if n.Kind != yamlv3.MappingNode {
		w.fail(n, p, "want a mapping, got %s", describe(n))
		return nil, false
	}
	fields := jsonFields(t)
	out := map[string]any{}
	seen := map[string]bool{}
	ok := true
	for _, kv := range refPairs(n, &w.budget) {
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
func (w *refWalker) mapping(n *yamlv3.Node, t reflect.Type, p fieldPath) (any, bool) {
	if n.Kind != yamlv3.MappingNode {
		w.fail(n, p, "want a mapping, got %s", describe(n))
		return nil, false
	}
	out := map[string]any{}
	ok := true
	for _, kv := range refPairs(n, &w.budget) {
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
func refPairs(n *yamlv3.Node, budget *int) [][2]*yamlv3.Node {
	var out, merged [][2]*yamlv3.Node
	explicit := map[string]bool{}
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
					merged = append(merged, refPairs(s, budget)...)
				}
			}
			continue
		}
		explicit[k.Value] = true
		out = append(out, [2]*yamlv3.Node{k, v})
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
