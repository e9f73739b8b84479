package status

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// unmarshalDirect reads b into st, a zero report, with one YAML parse: the
// YAML parser sigs.k8s.io/yaml uses (go.yaml.in/yaml/v2, into generic
// values), then the values stored into st as sigs.k8s.io/yaml would store
// them after its round trip through JSON (scalars bound for strings
// written as strings, unknown fields ignored, encoding/json's rules for
// the rest). It returns false, st then undefined, for whatever it is not
// sure to read the same way: a syntax error, a value of the wrong type, a
// field name that differs from ours in case alone, a float bound for a
// number, a key that is no string. Unmarshal then takes the path through
// JSON, which reads it as it always did or words the error.
func unmarshalDirect(b []byte, st *NodeStatus) bool {
	var obj any
	if yamlv2.Unmarshal(b, &obj) != nil {
		return false
	}
	return fill(obj, reflect.ValueOf(st).Elem())
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

var fieldCache sync.Map // reflect.Type → map[string][]int

// fieldsOf maps the JSON names of t's fields to their indexes. The status
// types have no embedded structs.
func fieldsOf(t reflect.Type) map[string][]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	out := map[string][]int{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous || !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Index
	}
	fieldCache.Store(t, out)
	return out
}

// fill stores y, a value go.yaml.in/yaml/v2 decoded, into v, a settable
// zero value; false when it cannot be sure to do as the path through JSON.
func fill(y any, v reflect.Value) bool {
	if y == nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
			return true
		}
		if u, ok := jsonUnmarshaler(v); ok {
			return u.UnmarshalJSON([]byte("null")) == nil
		}
		return true
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return fill(y, v.Elem())
	}
	if u, ok := jsonUnmarshaler(v); ok {
		s, ok := y.(string)
		if !ok || !utf8.ValidString(s) {
			return false
		}
		b, err := json.Marshal(s)
		return err == nil && u.UnmarshalJSON(b) == nil
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		var s string
		switch x := y.(type) {
		case string:
			if !utf8.ValidString(x) {
				return false
			}
			s = x
		case int:
			s = strconv.Itoa(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case uint64:
			s = strconv.FormatUint(x, 10)
		case bool:
			s = strconv.FormatBool(x)
		case float64:
			// As sigs.k8s.io/yaml writes a float bound for a string;
			// a revision of digits alone with an 8 or 9 after a leading
			// 0 reads as one.
			s = strconv.FormatFloat(x, 'g', -1, 32)
		default:
			return false
		}
		v.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		switch x := y.(type) {
		case int:
			i = int64(x)
		case int64:
			i = x
		default:
			return false
		}
		if v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
	case reflect.Bool:
		x, ok := y.(bool)
		if !ok {
			return false
		}
		v.SetBool(x)
	case reflect.Slice:
		x, ok := y.([]any)
		if !ok {
			return false
		}
		s := reflect.MakeSlice(v.Type(), len(x), len(x))
		for i, e := range x {
			if !fill(e, s.Index(i)) {
				return false
			}
		}
		v.Set(s)
	case reflect.Struct:
		x, ok := y.(map[any]any)
		if !ok {
			return false
		}
		return fillStruct(x, v)
	default:
		return false
	}
	return true
}

func fillStruct(x map[any]any, v reflect.Value) bool {
	fields := fieldsOf(v.Type())
	for k, e := range x {
		name, ok := k.(string)
		if !ok {
			return false
		}
		if index, ok := fields[name]; ok {
			if !fill(e, v.FieldByIndex(index)) {
				return false
			}
			continue
		}
		// encoding/json matches a name without regard to case.
		if !utf8.ValidString(name) {
			return false
		}
		for f := range fields {
			if strings.EqualFold(f, name) {
				return false
			}
		}
		if !jsonable(e) {
			return false
		}
	}
	return true
}

// jsonable reports whether the path through JSON can write y, a value
// left out: no NaN or infinity, no map key it could not convert.
func jsonable(y any) bool {
	switch x := y.(type) {
	case nil, bool, int, int64, uint64, string:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if !jsonable(e) {
				return false
			}
		}
		return true
	case map[any]any:
		for k, e := range x {
			switch k.(type) {
			case string, int, int64, float64, bool:
			default:
				return false
			}
			if !jsonable(e) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonUnmarshaler returns v's json.Unmarshaler, as encoding/json finds it
// for a settable non-pointer v.
func jsonUnmarshaler(v reflect.Value) (json.Unmarshaler, bool) {
	if v.CanAddr() && reflect.PointerTo(v.Type()).Implements(jsonUnmarshalerType) {
		u, ok := v.Addr().Interface().(json.Unmarshaler)
		return u, ok
	}
	return nil, false
}
