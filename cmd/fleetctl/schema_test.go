package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/spec"
)

// schemaOf runs fleetctl schema and decodes its output.
func schemaOf(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := fleetctl(t, append([]string{"schema"}, args...)...)
	if r.code != 0 {
		t.Fatalf("schema: exit %d\n%s", r.code, r.stderr)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaCoversTypes walks every struct type reachable from the four
// kinds and checks that its definition lists exactly its JSON fields, so
// a field added to spec cannot be missing from the schema.
func TestSchemaCoversTypes(t *testing.T) {
	defs := schemaOf(t)["$defs"].(map[string]any)
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		// Duration and Mirror are strings in YAML.
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[spec.Duration]() || typ == reflect.TypeFor[spec.Mirror]() || seen[typ] {
			return
		}
		seen[typ] = true
		def, ok := defs[typ.Name()].(map[string]any)
		if !ok {
			t.Errorf("no definition for %s", typ.Name())
			return
		}
		props := def["properties"].(map[string]any)
		var want []string
		var fields func(reflect.Type)
		fields = func(typ reflect.Type) {
			for f := range typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" {
					continue // not part of the YAML form
				}
				if f.Anonymous && name == "" {
					fields(f.Type)
					continue
				}
				want = append(want, name)
				walk(f.Type)
			}
		}
		fields(typ)
		var got []string
		for k := range props {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema properties %v, Go fields %v", typ.Name(), got, want)
		}
	}
	for _, k := range kinds {
		walk(k.typ)
	}
}

// TestSchemaValidatesExamples checks every document of examples/fleet-repo
// against the schema, and that broken documents fail it.
func TestSchemaValidatesExamples(t *testing.T) {
	s := schemaOf(t)
	docs, _ := filepath.Glob(filepath.Join(exampleRepo, "*", "*.yaml"))
	docs = append(docs, filepath.Join(exampleRepo, "fleet.yaml"))
	if len(docs) < 9 {
		t.Fatalf("found %d example documents", len(docs))
	}
	for _, file := range docs {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if err := validateSchema(s, s, doc, ""); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	for _, bad := range []string{
		"apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: x}\nspec: {image: x, imagee: y}\n",
		"apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: x}\nspec: {image: x, restart: sometimes}\n",
		"apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: x}\nspec: {ports: [http]}\n",
		"apiVersion: gitfleet.dev/v1\nkind: Node\nmetadata: {name: x}\n",
		"apiVersion: gitfleet.dev/v1alpha1\nkind: Pod\nmetadata: {name: x}\n",
		"apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: x}\nspec: {pollInterval: 30}\n",
	} {
		var doc any
		if err := yaml.Unmarshal([]byte(bad), &doc); err != nil {
			t.Fatal(err)
		}
		if validateSchema(s, s, doc, "") == nil {
			t.Errorf("schema accepts:\n%s", bad)
		}
	}
	// One kind alone.
	w := schemaOf(t, "--kind", "Workload")
	var node any
	yaml.Unmarshal([]byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: x}\n"), &node)
	if validateSchema(w, w, node, "") == nil {
		t.Error("the Workload schema accepts a Node")
	}
}

// validateSchema is a small JSON Schema checker for the keywords
// fleetctl schema writes: $ref (to #/$defs/…), oneOf, allOf, type,
// properties, required, additionalProperties, items, enum, const, pattern.
func validateSchema(root, s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		def, ok := root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: unknown $ref %s", at, ref)
		}
		if err := validateSchema(root, def, v, at); err != nil {
			return err
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validateSchema(root, sub.(map[string]any), v, at); err != nil {
				return err
			}
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, sub := range one {
			if validateSchema(root, sub.(map[string]any), v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf", at, n)
		}
	}
	if c, ok := s["const"]; ok && c != v {
		return fmt.Errorf("%s: %v is not %v", at, v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		return fmt.Errorf("%s: %v not in %v", at, v, e)
	}
	if typ, ok := s["type"]; ok {
		var types []any
		switch typ := typ.(type) {
		case string:
			types = []any{typ}
		case []any:
			types = typ
		}
		if !slices.ContainsFunc(types, func(x any) bool { return hasType(v, x.(string)) }) {
			return fmt.Errorf("%s: %v (%T) is not %v", at, v, v, typ)
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", at, str, p)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: %s is required", at, r)
			}
		}
		for k, val := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				if err := validateSchema(root, ps, val, at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: unknown field %s", at, k)
				}
			case map[string]any:
				if err := validateSchema(root, ap, val, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				if err := validateSchema(root, items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	}
	return false
}

// TestSchemaMirrorPattern: editors flag the mirrors the parser refuses.
func TestSchemaMirrorPattern(t *testing.T) {
	re := regexp.MustCompile(mirrorPattern)
	for _, m := range []string{"mirror.local", "10.0.0.1:5000/cache", "h.example/proxy/hub", "http://m", "m/Cache", "m//a", "m@x", "m/", "m/a_b"} {
		_, err := spec.ParseMirror(m)
		if re.MatchString(m) != (err == nil) {
			t.Errorf("%q: pattern matches %v, ParseMirror error %v", m, re.MatchString(m), err)
		}
	}
}
